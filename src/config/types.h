// The validated services table. Everything here has been checked against
// the system at load time (users, groups, chroot, programs), so the spawn
// plan can be built from it without another lookup.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "config/jail.h"
#include "net/acl.h"
#include "net/address.h"
#include "net/socket.h"
#include "sandbox/policy.h"

namespace hinetd::config {

using Millis = std::chrono::milliseconds;

enum class StderrMode { kNull, kSocket, kLog };
enum class Internal { kNone, kEcho, kDiscard, kChargen, kDaytime, kTime };

[[nodiscard]] const char* InternalName(Internal i);
[[nodiscard]] const char* StderrModeName(StderrMode m);

struct ListenAddr {
  std::string text;                      // as written
  std::vector<net::Endpoint> endpoints;  // "*:7" gives two
  base::SourceLoc loc;
};

struct Rlimit {
  std::string key;  // "cpu", "nofile", ...
  int resource = 0;
  rlim_t soft = 0;
  rlim_t hard = 0;
};

// The chroot every internal service uses unless it sets `chroot`: an empty,
// root-owned directory hinetd creates at start.
inline constexpr const char* kEmptyChroot = "/var/lib/hinetd/empty";

// The namespaces hinetd can give each child (the `namespaces` key), as
// CLONE_NEW* flags.
inline constexpr uint32_t kNsPid = 0x20000000;  // CLONE_NEWPID
inline constexpr uint32_t kNsNet = 0x40000000;  // CLONE_NEWNET
inline constexpr uint32_t kNsIpc = 0x08000000;  // CLONE_NEWIPC
inline constexpr uint32_t kNsUts = 0x04000000;  // CLONE_NEWUTS
inline constexpr std::pair<const char*, uint32_t> kNamespaceNames[] = {
    {"pid", kNsPid}, {"net", kNsNet}, {"ipc", kNsIpc}, {"uts", kNsUts}};

// Processes a service's children may hold beyond one each, by default
// (rlimits.nproc; see LoadService).
inline constexpr rlim_t kDefaultNprocExtra = 64;

// The account internal services run as unless they set `user`: one of
// their own, never the listener's and never an exec service's by default.
inline constexpr const char* kInternalUser = "hinetd-internal";

struct Service {
  std::string name;
  base::SourceLoc loc;
  std::vector<ListenAddr> listen;
  net::Transport transport = net::Transport::kTcp;
  // udp only: true = the listening socket itself goes to one child at a
  // time; false = one child per peer.
  bool wait = false;
  // Owner and mode of the socket files of unix: addresses.
  net::UnixSocketFile unix_file;
  std::string unix_user = "root";
  std::string unix_group = "root";
  Internal internal = Internal::kNone;
  std::vector<std::string> exec;  // argv; exec[0] absolute, inside the chroot

  std::string user;  // as resolved: name, or the number
  uid_t uid = 0;
  std::string group;
  gid_t gid = 0;
  std::vector<gid_t> groups;

  std::optional<std::string> chroot;  // canonical absolute path; none = no chroot
  // A jail hinetd builds (`jail = {...}`): its plan; `chroot` is then the
  // tree it names (JailPlan::root), built by the monitor at load.
  std::shared_ptr<const JailPlan> jail;
  bool implicit_chroot = false;       // internal service in kEmptyChroot
  std::string workdir = "/";
  std::vector<std::pair<std::string, std::string>> env;  // sorted by name
  std::string sandbox = "default";                       // policy name, or "none"
  // Default: kLog, kNull for internal services (set by the loader).
  StderrMode stderr_mode = StderrMode::kLog;
  // A syslog relay: hinetd's datagram socket at CHROOT/dev/log, whose
  // messages it logs as event=syslog (supervisor/syslog_relay.h).
  bool syslog = false;
  std::vector<Rlimit> rlimits;  // every limit the child gets, defaults included
  mode_t umask = 022;
  int pdeathsig = 0;  // 0 = none
  bool unconfined = false;
  // The program changes its own identity (setgroups, set*id, chroot), as
  // programs inetd starts as root do: each child joins a user namespace
  // that maps only uid, gid and groups onto themselves, and a mount
  // namespace whose root is the chroot, and keeps CAP_SETUID, CAP_SETGID
  // and CAP_SYS_CHROOT in that user namespace only (spawn/identity_ns.h).
  bool drops_privileges = false;
  // CLONE_NEW* flags of the namespaces each child gets; a PID namespace by
  // default, so that whatever a child starts goes down with it.
  uint32_t namespaces = kNsPid;

  // Admission control.
  net::AccessList acl;       // allow / deny
  int max_instances = 0;     // concurrent children; 0 = no limit but max_children
  int per_source = 0;        // concurrent children per client address; 0 = none
  struct Rate {
    uint32_t count;
    Millis period;
  };
  std::optional<Rate> rate;  // new children per period
  Millis backoff{10000};     // pause after the rate is exceeded or children keep failing
  std::optional<Millis> timeout;  // children are stopped after this long
};

struct Daemon {
  // The listener's account (privilege separation): resolved by
  // ResolveDaemonUser, not by the loader.
  std::string user = "hinetd";
  base::SourceLoc user_loc;  // where [daemon] user is set; unknown if defaulted
  uid_t uid = 0;
  gid_t gid = 0;
  int max_children = 1024;
  bool log_peers = true;  // false: no client addresses in the log
  std::string sandbox_dir;  // absolute
  std::string jail_dir = kDefaultJailDir;  // where `jail` trees are built; absolute
};

struct Config {
  std::string path;
  Daemon daemon;
  std::vector<Service> services;
  // Every policy some service uses, includes flattened.
  std::map<std::string, sandbox::PolicySpec> policies;
  // Things that load but deserve a look (weak sandboxes); `check` prints them.
  std::vector<std::string> warnings;
};

}  // namespace hinetd::config
