// `hinetd import`: the model between the inetd.conf / xinetd.conf parsers
// and the hinetd.toml writer.
//
// A parser turns its syntax into Entries (what the old superserver would
// run, still in its own terms: a user that may be root, a server that may be
// tcpd, a port that may be a name). Translate() maps each Entry to a hinetd
// Service, asking the host (SystemLookup) which accounts, programs and port
// names exist. Nothing is dropped silently: whatever has no hinetd
// equivalent becomes a Note, printed on stderr and written as a comment.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"

namespace hinetd::importer {

enum class Format { kInetd, kXinetd };

// Where something was read: "file:line".
struct Where {
  std::string file;
  int line = 0;
  [[nodiscard]] std::string ToString() const {
    return line > 0 ? file + ":" + std::to_string(line) : file;
  }
};

// Something of the input that is not in the output, and why.
struct Note {
  Where where;
  std::string service;  // empty: about the file
  std::string text;
};

// One service as the old superserver describes it.
struct Entry {
  Where where;
  std::string original;  // the line (inetd) or "service NAME" (xinetd), for the comment
  std::string name;      // the service name as written (also the port name)
  std::string id;        // xinetd `id`: the preferred hinetd name
  // Disabled in the input (#<off># line, `disable = yes`): still translated,
  // and written commented out.
  std::string disabled;
  // The whole entry cannot be translated (rpc, tcpmux, raw sockets, ...):
  // the reason. It becomes a Note and a comment with the original.
  std::string untranslatable;

  bool udp = false;
  bool unix_socket = false;  // OpenBSD inetd: service field "/path", protocol "unix"
  // Address families: "4", "6" or "46" (both).
  std::string family = "4";
  std::optional<std::string> host;  // bind address as written; none = every address
  std::string port;                 // a number or a name from /etc/services
  bool wait = false;

  std::string user;   // as written; may be root
  std::string group;  // empty: the user's
  std::vector<std::string> groups;
  bool internal = false;
  std::string server;             // absolute path (may be tcpd)
  std::vector<std::string> argv;  // argv[0] included, as the old superserver passes it

  // Admission control and the child's setting, hinetd's terms already.
  std::optional<std::vector<std::string>> allow;  // set: only these
  std::vector<std::string> deny;
  std::optional<int> max_instances;
  std::optional<int> per_source;
  std::optional<std::string> rate;                           // "N/s" or "N/m"
  std::optional<std::string> backoff;                        // duration
  std::vector<std::pair<std::string, std::string>> rlimits;  // hinetd key, TOML value
  std::vector<std::pair<std::string, std::string>> env;
  std::optional<std::string> umask;

  // Parts of the entry that have no hinetd equivalent, with the reason.
  std::vector<std::string> dropped;
  // Facts worth a review comment that the parser found.
  std::vector<std::string> remarks;
};

// A hinetd [[service]] table, or a commented-out one.
struct Service {
  Where where;                       // of the first entry
  std::vector<std::string> sources;  // "file:line: original", one per entry merged in
  std::string name;
  std::vector<std::string> listen;
  bool udp = false;
  bool wait = false;  // written only for udp
  std::string internal;
  std::vector<std::string> exec;
  std::string user;   // empty for internal services (their default account)
  std::string group;  // empty: the user's primary group
  std::vector<std::string> groups;
  std::optional<std::string> chroot;
  // A jail hinetd builds (`jail = { ... }`); programs and files as host
  // paths, files as (from, to).
  struct Jail {
    std::vector<std::string> programs;
    std::vector<std::pair<std::string, std::string>> files;
  };
  std::optional<Jail> jail;
  bool syslog = false;            // the syslog relay
  bool drops_privileges = false;  // it changes its own identity (in.tftpd)
  std::string sandbox;  // empty: the default for internal services
  std::optional<std::vector<std::string>> allow;
  std::vector<std::string> deny;
  std::optional<int> max_instances;
  std::optional<int> per_source;
  std::optional<std::string> rate;
  std::optional<std::string> backoff;
  std::vector<std::pair<std::string, std::string>> rlimits;
  std::vector<std::pair<std::string, std::string>> env;
  std::optional<std::string> umask;

  // Comments above the table: "review: ..." lines and what was dropped.
  std::vector<std::string> review;
  // Non-empty: the service cannot run on this host as written (a missing
  // account or program, disabled in the input); it is written commented
  // out, with these reasons.
  std::vector<std::string> off;
};

struct Conversion {
  std::string input;  // the file converted
  Format format = Format::kInetd;
  std::vector<Service> services;
  std::vector<Note> notes;  // untranslated, in input order
  // Accounts the output names that do not exist on this host.
  std::vector<std::string> missing_accounts;
};

// The host facts the translation depends on; tests substitute a fake.
class SystemLookup {
 public:
  virtual ~SystemLookup() = default;
  // Port of a service name in /etc/services for "tcp" or "udp".
  [[nodiscard]] virtual std::optional<uint16_t> ServicePort(const std::string &name,
                                                            const std::string &proto) const = 0;
  [[nodiscard]] virtual bool UserExists(const std::string &name) const = 0;
  [[nodiscard]] virtual bool GroupExists(const std::string &name) const = 0;
  // A regular file that can be executed.
  [[nodiscard]] virtual bool IsProgram(const std::string &path) const = 0;
  // A file or directory (a jail copies it).
  [[nodiscard]] virtual bool Exists(const std::string &path) const = 0;
  // The program is an ELF file that imports syslog(3) (config/elf_imports.h).
  [[nodiscard]] virtual bool ImportsSyslog(const std::string &program) const = 0;
  // The input files (xinetd's include and includedir).
  [[nodiscard]] virtual base::Result<std::string> ReadFile(const std::string &path) const = 0;
  // The names in a directory (not "." and ".."), sorted.
  [[nodiscard]] virtual base::Result<std::vector<std::string>> ListDirectory(
      const std::string &path) const = 0;
};

// The running system: getpwnam, getgrnam, getservbyname, access(2).
class HostSystem final : public SystemLookup {
 public:
  [[nodiscard]] std::optional<uint16_t> ServicePort(const std::string &name,
                                                    const std::string &proto) const override;
  [[nodiscard]] bool UserExists(const std::string &name) const override;
  [[nodiscard]] bool GroupExists(const std::string &name) const override;
  [[nodiscard]] bool IsProgram(const std::string &path) const override;
  [[nodiscard]] bool Exists(const std::string &path) const override;
  [[nodiscard]] bool ImportsSyslog(const std::string &program) const override;
  [[nodiscard]] base::Result<std::string> ReadFile(const std::string &path) const override;
  [[nodiscard]] base::Result<std::vector<std::string>> ListDirectory(
      const std::string &path) const override;
};

// What a parser gives: the entries, and notes about lines that are not
// entries of any service (e.g. OpenBSD's default-host lines it could not use).
struct Parsed {
  std::vector<Entry> entries;
  std::vector<Note> notes;
};

// inetd.conf (OpenBSD inetd, inetutils inetd, FreeBSD's max-child suffixes).
// A line that no inetd accepts is an error that names file:line.
[[nodiscard]] base::Result<Parsed> ParseInetd(const std::string &text, const std::string &path);

// xinetd.conf with its `include` and `includedir` files, read through
// `sys`. A syntax error, or a file it includes that cannot be read, names
// file:line.
[[nodiscard]] base::Result<Parsed> ParseXinetd(const std::string &path, const SystemLookup &sys);

// Which syntax `text` is in: xinetd if it has a `service NAME`, `defaults` or
// `includedir` line before any inetd entry.
[[nodiscard]] Format DetectFormat(const std::string &text);

// hosts_access(5): one rule of /etc/hosts.allow or /etc/hosts.deny.
struct HostsRule {
  Where where;
  std::string daemons;               // the daemon list, as written
  std::string clients;               // the client list, as written
  std::vector<std::string> options;  // hosts_options(5), each as written
};

// The rules of a hosts_access file (continuation lines joined, comments
// skipped); a line without ':' is skipped with a note, as tcpd skips it.
[[nodiscard]] std::vector<HostsRule> ParseHostsAccess(const std::string &text,
                                                      const std::string &path,
                                                      std::vector<Note> &notes);

// What the rules say for one daemon, in hinetd's terms.
struct HostsAccessResult {
  std::vector<std::string> rules;  // "file:line" of every rule that names it
  std::optional<std::vector<std::string>> allow;
  std::vector<std::string> deny;
  struct Untranslated {
    Where where;
    std::string why;
  };
  std::vector<Untranslated> untranslated;
};

// tcpd's decision for `daemon` (a process name, e.g. in.fingerd): the first
// rule that names it (or ALL) and matches the client decides, hosts.allow
// before hosts.deny, a rule's allow/deny option over its file, and access
// is granted when none matches. Exact for address patterns (a.b.c.d,
// a.b.c., net/mask, net/len, [v6], [v6]/len, ALL, EXCEPT); the rest is in
// `untranslated`, with the reason.
[[nodiscard]] HostsAccessResult TranslateHostsAccess(const std::vector<HostsRule> &allow_rules,
                                                     const std::vector<HostsRule> &deny_rules,
                                                     const std::string &daemon);

// Where tcpd's rules are read from for the services unwrapped from tcpd.
// An empty path: none. A file that does not exist has no rules (as for
// tcpd).
struct HostsFiles {
  std::string allow = "/etc/hosts.allow";
  std::string deny = "/etc/hosts.deny";
};

// Entries -> services: names made unique, accounts mapped (never root),
// tcpd unwrapped, internal services, a sandbox per program, and what the
// host lacks.
[[nodiscard]] Conversion Translate(const Parsed &parsed, const std::string &input, Format format,
                                   const SystemLookup &sys, const HostsFiles &hosts = {});

// The sandbox of an exec service, from what hinetd knows of its program
// (src/import/programs.cc): jail, policy, syslog, drops_privileges, with
// review comments; what this host lacks for it goes to `off`. Run once the
// service's account is known (in.tftpd's --user is it).
void FitSandbox(Service &s, const SystemLookup &sys);
// Why a program cannot work without root ("" if it can).
[[nodiscard]] std::string NeedsRoot(const std::string &program);

// The hinetd.toml text, with the review comments and the notes.
[[nodiscard]] std::string WriteToml(const Conversion &conversion);

// The report for stderr: one line per note, the services written commented
// out and why, the accounts to create.
[[nodiscard]] std::string Report(const Conversion &conversion);

}  // namespace hinetd::importer
