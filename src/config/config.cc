#include "config/config.h"
#include "config/elf_imports.h"
#include "config/jail.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <unordered_map>
#include <set>
#include <tuple>

#include "base/errno_name.h"
#include "base/fs.h"
#include "config/policy_file.h"
#include "config/system_checks.h"
#include "config/toml_reader.h"
#include "config/units.h"

namespace hinetd::config {

using base::Error;
using base::Result;
using base::SourceLoc;
using base::Status;

const char* InternalName(Internal i) {
  switch (i) {
    case Internal::kEcho: return "echo";
    case Internal::kDiscard: return "discard";
    case Internal::kChargen: return "chargen";
    case Internal::kDaytime: return "daytime";
    case Internal::kTime: return "time";
    case Internal::kNone: break;
  }
  return "";
}

const char* StderrModeName(StderrMode m) {
  switch (m) {
    case StderrMode::kNull: return "null";
    case StderrMode::kSocket: return "socket";
    case StderrMode::kLog: return "log";
  }
  return "";
}

namespace {

const std::vector<std::string> kTopKeys = {"daemon", "defaults", "service"};
const std::vector<std::string> kDaemonKeys = {"user", "max_children", "sandbox_dir", "log_peers",
                                              "jail_dir"};
const std::vector<std::string> kJailKeys = {"programs", "files", "devices", "writable", "users"};
// Every per-service key; [defaults] takes all but the first four.
const std::vector<std::string> kServiceKeys = {
    "name",       "listen",        "exec",        "internal",    "protocol", "wait",
    "socket_mode", "socket_user",  "socket_group", "user",       "group",    "groups",
    "chroot",     "workdir",       "env",         "sandbox",     "stderr",   "timeout",
    "rlimits",    "umask",         "pdeathsig",   "unconfined",  "max_instances",
    "per_source", "rate",          "backoff",     "allow",       "deny",     "namespaces",
    "syslog",     "jail", "drops_privileges"};
const std::vector<std::string> kRlimitKeys = {"cpu",   "as",     "data",  "stack",  "fsize",
                                              "core",  "nofile", "nproc", "memlock"};
// The `timeout` of a udp service that sets none (see LoadLimits).
constexpr Millis kUdpNowaitTimeout{30'000};
constexpr Millis kUdpWaitTimeout{15 * 60'000};
// Variables hinetd sets for every child; a service's env may not replace them.
const std::vector<std::string> kReservedEnv = {
    "PROTO",         "TCPREMOTEIP",   "TCPREMOTEPORT",  "TCPLOCALIP",     "TCPLOCALPORT",
    "UNIXREMOTEUID", "UNIXREMOTEGID", "UNIXREMOTEPID",  "UNIXREMOTEEUID", "UNIXREMOTEEGID",
    "UNIXLOCALPATH"};

std::vector<std::string> DefaultsKeys() {
  std::vector<std::string> keys;
  for (const auto& k : kServiceKeys) {
    if (k != "name" && k != "listen" && k != "exec" && k != "internal") keys.push_back(k);
  }
  return keys;
}

struct ListenOwner {
  net::Endpoint ep;
  std::string service;
  std::string text;
  net::Transport transport;
};

class Loader {
 public:
  Loader(std::string path, const SystemView& system) : path_(std::move(path)), sys_(system) {}

  Result<Config> Run(std::string_view text);

 private:
  Status LoadDaemon(const toml::table& doc);
  Status LoadService(const TableReader& svc, const TableReader* defaults);
  Status LoadIdentity(Service& s, const std::vector<const TableReader*>& scope);
  Status LoadJailAndProgram(Service& s, const std::vector<const TableReader*>& scope);
  Status LoadJailTable(Service& s, const Found& jail, const SourceLoc& exec_loc);
  Status LoadEnv(Service& s, const std::vector<const TableReader*>& scope);
  Status LoadRlimits(Service& s, const std::vector<const TableReader*>& scope);
  Status LoadSandbox(Service& s, const std::vector<const TableReader*>& scope);
  Status LoadDropsPrivileges(Service& s, const std::vector<const TableReader*>& scope);
  Status LoadSocketFile(Service& s, const std::vector<const TableReader*>& scope, bool has_unix);
  Status LoadAdmission(Service& s, const std::vector<const TableReader*>& scope);
  Status LoadNamespaces(Service& s, const std::vector<const TableReader*>& scope);
  // rlimits.nproc of the services that do not set it, once all are loaded.
  void DefaultNproc();

  // The system's accounts, each looked up once per load (a table of a
  // thousand services would otherwise read /etc/passwd and /etc/group a
  // thousand times), which also gives the whole load one view of them.
  Result<Account> ResolveUser(const std::string& text);
  Result<gid_t> ResolveGroup(const std::string& text, std::string& name);

  std::string path_;
  const SystemView& sys_;
  std::map<std::string, Result<Account>, std::less<>> users_;
  std::map<std::string, std::pair<Result<gid_t>, std::string>, std::less<>> groups_;
  Config config_;
  std::vector<ListenOwner> bound_;
  // Indexes that keep the duplicate checks linear in the number of
  // services: the names seen (-> the service's index), and the listen
  // addresses by what two overlapping ones share (transport, family, port;
  // every unix: path has port 0) -> indexes into bound_.
  std::map<std::string, size_t, std::less<>> names_;
  std::map<std::tuple<int, int, uint16_t>, std::vector<size_t>> bound_by_port_;
  std::unique_ptr<PolicyLoader> policies_;
  // hinetd's own limits, read once per load (not once per service).
  std::map<int, rlimit> own_limits_;
  const rlimit& OwnLimit(int resource);
};

Result<Account> Loader::ResolveUser(const std::string& text) {
  auto it = users_.find(text);
  if (it == users_.end()) it = users_.emplace(text, sys_.ResolveUser(text)).first;
  return it->second;
}

Result<gid_t> Loader::ResolveGroup(const std::string& text, std::string& name) {
  auto it = groups_.find(text);
  if (it == groups_.end()) {
    std::string found;
    auto gid = sys_.ResolveGroup(text, found);
    it = groups_.emplace(text, std::pair{std::move(gid), std::move(found)}).first;
  }
  name = it->second.second;
  return it->second.first;
}

const rlimit& Loader::OwnLimit(int resource) {
  auto [it, added] = own_limits_.try_emplace(resource);
  if (added) getrlimit(static_cast<__rlimit_resource_t>(resource), &it->second);
  return it->second;
}

Result<Config> Loader::Run(std::string_view text) {
  config_.path = path_;
  auto doc = ParseToml(text, path_);
  if (!doc.ok()) return doc.error();
  TableReader top(*doc, path_, "");
  if (auto s = top.CheckKeys(kTopKeys); !s.ok()) return s.error();
  if (auto s = LoadDaemon(*doc); !s.ok()) return s.error();

  std::unique_ptr<TableReader> defaults;
  if (const toml::node* d = doc->get("defaults")) {
    if (!d->is_table()) {
      return top.Err(*d, "defaults", "expected a table ([defaults]), got " + TypeName(*d));
    }
    defaults = std::make_unique<TableReader>(*d->as_table(), path_, "[defaults]");
    std::vector<std::pair<std::string, std::string>> per_service;
    for (const char* k : {"name", "listen", "exec", "internal"}) {
      per_service.emplace_back(k, "cannot have a default: it belongs in each [[service]]");
    }
    if (auto s = defaults->CheckKeys(DefaultsKeys(), per_service); !s.ok()) return s.error();
    // Checked here too, so that a bad block is reported even when no service
    // it would apply to exists yet.
    for (const char* key : {"allow", "deny"}) {
      Found f = Lookup({defaults.get()}, key);
      if (!f) continue;
      auto items = AsStringArray(f);
      if (!items.ok()) return items.error();
      for (const auto& item : *items) {
        if (auto c = net::ParseCidr(item.value); !c.ok()) {
          return Error(item.loc, "[defaults]: " + std::string(key) + ": " + c.error().message());
        }
      }
    }
  }

  const toml::node* services = doc->get("service");
  if (services == nullptr) {
    return Error(SourceLoc{path_, 1, 1},
                 "no services: add at least one [[service]] table with name, listen and exec "
                 "(or internal)");
  }
  const toml::array* arr = services->as_array();
  if (arr == nullptr || !arr->is_array_of_tables()) {
    return top.Err(*services, "service",
                   "expected [[service]] tables (an array of tables), got " + TypeName(*services));
  }
  config_.services.reserve(arr->size());  // no service moved as the table grows
  for (const toml::node& node : *arr) {
    TableReader svc(*node.as_table(), path_, "service #" +
                                                 std::to_string(config_.services.size() + 1));
    if (auto s = LoadService(svc, defaults.get()); !s.ok()) return s.error();
  }
  DefaultNproc();
  return std::move(config_);
}

void Loader::DefaultNproc() {
  // A default process limit. RLIMIT_NPROC counts every process of the
  // child's real uid, not of one connection or one service, and a child
  // whose uid is at the limit cannot even execute (EAGAIN): room for every
  // child that all services of the uid may run at once (their max_instances,
  // or max_children, at most max_children in all), plus 64 processes they
  // share. With a uid of its own, that bounds the service as a whole; the
  // PID namespace of each child takes whatever it started down with it.
  std::map<uid_t, rlim_t> children;
  for (const Service& s : config_.services) {
    rlim_t& n = children[s.uid];
    n += static_cast<rlim_t>(s.max_instances > 0 ? s.max_instances
                                                 : config_.daemon.max_children);
    n = std::min(n, static_cast<rlim_t>(config_.daemon.max_children));
  }
  for (Service& s : config_.services) {
    if (std::any_of(s.rlimits.begin(), s.rlimits.end(),
                    [](const Rlimit& r) { return r.resource == RLIMIT_NPROC; })) {
      continue;
    }
    rlim_t limit = children[s.uid] + kDefaultNprocExtra;
    s.rlimits.push_back({"nproc", RLIMIT_NPROC, limit, limit});
  }
}

Status Loader::LoadDaemon(const toml::table& doc) {
  std::string dir = base::DirName(path_);
  config_.daemon.sandbox_dir = base::JoinPath(dir, "sandbox");
  if (const toml::node* d = doc.get("daemon")) {
    TableReader top(doc, path_, "");
    if (!d->is_table()) return top.Err(*d, "daemon", "expected a table ([daemon])");
    TableReader daemon(*d->as_table(), path_, "[daemon]");
    if (auto s = daemon.CheckKeys(kDaemonKeys); !s.ok()) return s;
    std::vector<const TableReader*> scope{&daemon};
    if (auto f = Lookup(scope, "user")) {
      auto v = f.node->is_integer()
                   ? Result<std::string>(std::to_string(f.node->as_integer()->get()))
                   : AsString(f);
      if (!v.ok()) return f.Err("expected a user name or a uid, got " + TypeName(*f.node));
      config_.daemon.user = *v;
      config_.daemon.user_loc = f.Loc();
    }
    if (auto f = Lookup(scope, "log_peers")) {
      auto v = AsBool(f);
      if (!v.ok()) return v.error();
      config_.daemon.log_peers = *v;
    }
    if (auto f = Lookup(scope, "max_children")) {
      auto v = AsInt(f, 1, 1'000'000);
      if (!v.ok()) return v.error();
      config_.daemon.max_children = static_cast<int>(*v);
    }
    if (auto f = Lookup(scope, "sandbox_dir")) {
      auto v = AsString(f);
      if (!v.ok()) return v.error();
      config_.daemon.sandbox_dir = base::JoinPath(dir, *v);
      // Named explicitly, it must be there: otherwise every service would
      // fail with "no policy" and hide the cause.
      struct stat st {};
      std::string shown = "'" + *v + "'" +
                          (v->empty() || (*v)[0] != '/'
                               ? " (relative to this file: " + config_.daemon.sandbox_dir + ")"
                               : "");
      if (int err = sys_.Stat(config_.daemon.sandbox_dir, st); err != 0) {
        return f.Err(shown + ": " + strerror(err) + " (" + base::ErrnoName(err) + ")");
      }
      if (!S_ISDIR(st.st_mode)) return f.Err(shown + " is not a directory");
    }
    if (auto f = Lookup(scope, "jail_dir")) {
      auto v = AsString(f);
      if (!v.ok()) return v.error();
      if (std::string why = JailPathProblem(*v); !why.empty() || *v == "/") {
        return f.Err("'" + *v + "' " + (why.empty() ? "is the root directory" : why) +
                     " (expected an absolute directory of its own, e.g. " + kDefaultJailDir +
                     ")");
      }
      config_.daemon.jail_dir = *v;
    }
  }
  // Policies are found relative to the config file; store the path
  // absolute and canonical so a daemon that has changed directory still finds
  // them on reload, and messages name them plainly.
  if (auto real = sys_.RealPath(config_.daemon.sandbox_dir)) {
    config_.daemon.sandbox_dir = *real;
  } else if (config_.daemon.sandbox_dir[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) != nullptr) {
      config_.daemon.sandbox_dir = std::string(cwd) + "/" + config_.daemon.sandbox_dir;
    }
  }
  policies_ = std::make_unique<PolicyLoader>(config_.daemon.sandbox_dir, sys_);
  return Status();
}

Status Loader::LoadService(const TableReader& raw, const TableReader* defaults) {
  Service s;
  s.loc = raw.TableLoc();
  // Errors about unknown keys already name the service when its name is a
  // plain string; otherwise "service #N" says which table it is.
  if (const toml::node* n = raw.Find("name"); n != nullptr && n->is_string()) {
    TableReader named(raw.table(), path_, "service \"" + n->as_string()->get() + "\"");
    if (auto st = named.CheckKeys(kServiceKeys); !st.ok()) return st;
  } else if (auto st = raw.CheckKeys(kServiceKeys); !st.ok()) {
    return st;
  }

  // The name first, so every later error can say which service it is about.
  Found name = Lookup({&raw}, "name");
  if (!name) return Error(s.loc, raw.context() + ": name: required (e.g. name = \"echo\")");
  auto n = AsString(name);
  if (!n.ok()) return n.error();
  if (!IsValidName(*n)) {
    return name.Err("'" + *n + "' is not a valid name (letters, digits, '_' and '-', at most 64)");
  }
  if (auto other = names_.find(*n); other != names_.end()) {
    return name.Err("a service named '" + *n + "' is already defined at " +
                    config_.services[other->second].loc.ToString());
  }
  names_.emplace(*n, config_.services.size());
  s.name = *n;
  TableReader svc(raw.table(), path_, "service \"" + s.name + "\"");
  std::vector<const TableReader*> scope{&svc};
  if (defaults != nullptr) scope.push_back(defaults);
  auto required = [&](const std::string& key, const std::string& example) {
    return Error(s.loc, svc.context() + ": " + key + ": required (e.g. " + example + ")");
  };

  if (auto f = Lookup(scope, "protocol")) {
    auto v = AsString(f);
    if (!v.ok()) return v.error();
    if (*v == "udp") {
      s.transport = net::Transport::kUdp;
    } else if (*v != "tcp") {
      return f.Err("'" + *v + "' is not a protocol (expected \"tcp\" or \"udp\")");
    }
  }
  if (auto f = Lookup(scope, "wait")) {
    auto v = AsBool(f);
    if (!v.ok()) return v.error();
    if (*v && s.transport == net::Transport::kTcp) {
      return f.Err(
          "wait = true is for udp services (a tcp service gets one child per connection); "
          "set wait = false or remove it");
    }
    s.wait = *v;
  }

  // listen
  Found listen = Lookup({&svc}, "listen");
  if (!listen) return required("listen", "listen = [\"127.0.0.1:7007\"]");
  auto items = AsStringOrArray(listen);
  if (!items.ok()) return items.error();
  if (items->empty()) return listen.Err("needs at least one address");
  bool has_unix = false;
  for (const auto& item : *items) {
    auto eps = net::ParseListen(item.value, s.transport);
    if (!eps.ok()) return Error(item.loc, svc.context() + ": listen: " + eps.error().message());
    if ((*eps)[0].IsUnix()) {
      has_unix = true;
      if (auto st = net::CheckUnixSocketPath((*eps)[0].UnixPath()); !st.ok()) {
        return Error(item.loc, svc.context() + ": listen: " + st.error().message());
      }
    }
    for (const auto& ep : *eps) {
      auto& same_port = bound_by_port_[{static_cast<int>(s.transport), ep.family(), ep.port()}];
      for (size_t i : same_port) {
        const ListenOwner& owner = bound_[i];
        if (owner.transport != s.transport || !net::Overlaps(owner.ep, ep)) continue;
        std::string what = owner.ep == ep ? "is the same as" : "overlaps";
        return Error(item.loc, svc.context() + ": listen: '" + item.value + "' " + what + " '" +
                                   owner.text + "' of service \"" + owner.service +
                                   "\" (each address and port can be bound once)");
      }
      same_port.push_back(bound_.size());
      bound_.push_back({ep, s.name, item.value, s.transport});
    }
    s.listen.push_back({item.value, *eps, item.loc});
  }

  // exactly one of internal / exec
  Found internal = Lookup({&svc}, "internal");
  Found exec = Lookup({&svc}, "exec");
  if (internal && exec) {
    return exec.Err("a service has either exec or internal, not both (internal is set at " +
                    internal.Loc().ToString() + ")");
  }
  if (!internal && !exec) {
    return required("exec", "exec = [\"/usr/bin/prog\", \"arg\"], or internal = \"echo\"");
  }
  if (internal) {
    auto v = AsString(internal);
    if (!v.ok()) return v.error();
    for (Internal i : {Internal::kEcho, Internal::kDiscard, Internal::kChargen,
                       Internal::kDaytime, Internal::kTime}) {
      if (*v == InternalName(i)) s.internal = i;
    }
    if (s.internal == Internal::kNone) {
      return internal.Err("'" + *v +
                          "' is not an internal service (expected echo, discard, chargen, "
                          "daytime or time)");
    }
    s.sandbox = "internal";
    if (s.wait) {
      Found wait = Lookup(scope, "wait");
      return wait.Err("internal services over udp answer each peer from a child of its own; "
                      "remove wait = true");
    }
  } else {
    auto argv = AsStringArray(exec);
    if (!argv.ok()) return argv.error();
    if (argv->empty()) return exec.Err("needs the program's path, e.g. [\"/usr/bin/prog\"]");
    for (const auto& a : *argv) s.exec.push_back(a.value);
    if (s.exec[0].empty() || s.exec[0][0] != '/') {
      return Error((*argv)[0].loc, svc.context() + ": exec: the program '" + s.exec[0] +
                                       "' must be an absolute path (no PATH search is done)");
    }
  }

  if (auto st = LoadSocketFile(s, scope, has_unix); !st.ok()) return st;
  if (auto st = LoadAdmission(s, scope); !st.ok()) return st;
  if (auto f = Lookup(scope, "unconfined")) {
    auto v = AsBool(f);
    if (!v.ok()) return v.error();
    s.unconfined = *v;
  }
  if (auto st = LoadIdentity(s, scope); !st.ok()) return st;
  if (auto st = LoadJailAndProgram(s, scope); !st.ok()) return st;
  if (auto st = LoadEnv(s, scope); !st.ok()) return st;
  if (auto st = LoadSandbox(s, scope); !st.ok()) return st;
  if (auto f = Lookup(scope, "stderr")) {
    auto v = AsString(f);
    if (!v.ok()) return v.error();
    if (*v == "null") {
      s.stderr_mode = StderrMode::kNull;
    } else if (*v == "socket") {
      s.stderr_mode = StderrMode::kSocket;
    } else if (*v == "log") {
      s.stderr_mode = StderrMode::kLog;
    } else {
      return f.Err("'" + *v + "' is not valid (expected \"null\", \"socket\" or \"log\")");
    }
  } else {
    // What a wrapped program writes to stderr is often the only word of why
    // it failed: to the log by default (tagged, escaped, rate-limited). The
    // internal services' program writes nothing there; a pipe per
    // connection would be pure cost.
    s.stderr_mode = s.internal == Internal::kNone ? StderrMode::kLog : StderrMode::kNull;
  }
  if (auto f = Lookup(scope, "syslog")) {
    auto v = AsBool(f);
    if (!v.ok()) return v.error();
    s.syslog = *v;
    if (s.syslog && s.internal != Internal::kNone) {
      return f.Err("internal services do not log; syslog = true is for programs (exec)");
    }
    if (s.syslog && !s.chroot) {
      return f.Err("syslog = true needs a chroot: the relay's socket is /dev/log inside it "
                   "(without one, /dev/log is the host's own syslog)");
    }
    if (s.syslog && !s.jail) {  // a jail's /dev is hinetd's own
      // hinetd creates CHROOT/dev/log there: a directory the service (or
      // anyone but root) could write would let it swap the path.
      std::string dev = *s.chroot + "/dev";
      struct stat st {};
      if (lstat(dev.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
          (st.st_mode & 022) != 0) {
        return f.Err("syslog = true needs the directory " + dev +
                     ", owned by root and writable by root only, for the relay's socket "
                     "/dev/log: create it (install -d -m 0755 -o root -g root " + dev + ")");
      }
    }
  }
  // A program that logs through syslog(3) in a jail without a relay loses
  // every message (and fails with EACCES under `default`): say so.
  if (!s.syslog && s.chroot && !s.implicit_chroot && !s.exec.empty() &&
      ImportsSyslog(s.jail ? "/" : *s.chroot, s.exec[0])) {
    config_.warnings.push_back(
        "service \"" + s.name + "\": its program " + s.exec[0] +
        " calls syslog(3), and its chroot has no /dev/log: what it logs is lost; set syslog = "
        "true for a relay to hinetd's log (and include the \"syslog\" policy)");
  }
  if (auto st = LoadDropsPrivileges(s, scope); !st.ok()) return st;
  if (auto st = LoadRlimits(s, scope); !st.ok()) return st;
  if (auto f = Lookup(scope, "umask")) {
    // "022" (a string, read as octal) or 18 (an integer, as TOML writes 0o022).
    int64_t v = -1;
    if (f.node->is_integer()) {
      auto i = AsInt(f, 0, 0777);
      if (!i.ok()) return i.error();
      v = *i;
    } else {
      auto str = AsString(f);
      if (!str.ok()) return f.Err("expected an octal string such as \"022\" or 0o022");
      if (str->empty() || str->size() > 4 || str->find_first_not_of("01234567") != std::string::npos) {
        return f.Err("'" + *str + "' is not an octal mode (e.g. \"022\" or \"077\")");
      }
      v = std::stol(*str, nullptr, 8);
      if (v > 0777) return f.Err("'" + *str + "' is larger than 0777");
    }
    s.umask = static_cast<mode_t>(v);
  }
  if (auto f = Lookup(scope, "pdeathsig")) {
    auto v = AsString(f);
    if (!v.ok()) return v.error();
    auto sig = ParseSignal(*v);
    if (!sig.ok()) return f.Err(sig.error().message());
    s.pdeathsig = *sig;
  }
  if (auto st = LoadNamespaces(s, scope); !st.ok()) return st;
  config_.services.push_back(std::move(s));
  return Status();
}

// "30s", "500ms", ... or an integer (seconds).
Result<Millis> AsDuration(const Found& f) {
  if (f.node->is_integer()) {
    auto v = AsInt(f, 1, 86'400);
    if (!v.ok()) return v.error();
    return Millis(*v * 1000);
  }
  auto text = AsString(f);
  if (!text.ok()) return f.Err("expected a duration such as \"30s\", got " + TypeName(*f.node));
  auto d = ParseDuration(*text);
  if (!d.ok()) return f.Err(d.error().message());
  return *d;
}

// "100/s", "600/m", or an integer (per second).
Result<Service::Rate> ParseRate(const Found& f) {
  const std::string forms =
      " (expected new children per second or minute: \"100/s\", \"600/m\", or an integer per "
      "second)";
  if (f.node->is_integer()) {
    auto v = AsInt(f, 1, 1'000'000);
    if (!v.ok()) return v.error();
    return Service::Rate{static_cast<uint32_t>(*v), Millis(1000)};
  }
  auto text = AsString(f);
  if (!text.ok()) return f.Err("expected a rate such as \"100/s\", got " + TypeName(*f.node));
  auto slash = text->find('/');
  std::string count = text->substr(0, slash);
  std::string unit = slash == std::string::npos ? "" : text->substr(slash + 1);
  uint32_t n = 0;
  auto [ptr, ec] = std::from_chars(count.data(), count.data() + count.size(), n);
  if (count.empty() || ec != std::errc() || ptr != count.data() + count.size() || n == 0 ||
      n > 1'000'000 || (unit != "s" && unit != "m")) {
    return f.Err("'" + *text + "' is not a rate" + forms);
  }
  return Service::Rate{n, Millis(unit == "s" ? 1000 : 60'000)};
}

Status Loader::LoadAdmission(Service& s, const std::vector<const TableReader*>& scope) {
  bool ip = std::any_of(s.listen.begin(), s.listen.end(),
                        [](const ListenAddr& l) { return !l.endpoints[0].IsUnix(); });
  // A udp wait child reads every datagram from the socket itself: limits
  // per connection cannot be enforced for it, so they are refused rather
  // than half-applied.
  bool udp_wait = s.transport == net::Transport::kUdp && s.wait;
  auto not_for_wait = [&](const Found& f) {
    return f.Err("does not apply to a udp wait service: its one child reads every datagram "
                 "itself (use wait = false for one child per peer)");
  };
  // A [defaults] limit that cannot apply to this service is skipped, and
  // said so: an access list that silently does not apply is the worst kind.
  auto skipped = [&](const char* key, const char* why) {
    config_.warnings.push_back("service \"" + s.name + "\": [defaults] " + key +
                               " does not apply to it (" + why + ")");
  };
  std::optional<std::vector<net::Cidr>> allow;
  std::vector<net::Cidr> deny;
  for (const char* key : {"allow", "deny"}) {
    Found f = Lookup(scope, key);
    if (!f) continue;
    if (udp_wait) {
      // Even from [defaults]: an access list that silently does not apply
      // would leave the service open to everybody (fail closed).
      if (f.reader != scope[0]) {
        return f.Err("cannot apply to the udp wait service \"" + s.name +
                     "\", whose one child reads every datagram itself; set " + key +
                     " in the services it applies to instead, or wait = false in this one");
      }
      return not_for_wait(f);
    }
    if (!ip) {
      // From [defaults]: unix: clients have no address; the socket file's
      // owner and mode decide who may connect.
      if (f.reader != scope[0]) continue;
      return f.Err("applies to IP addresses, and this service listens on unix: only (its "
                   "socket file's owner and mode decide who may connect)");
    }
    auto items = AsStringArray(f);
    if (!items.ok()) return items.error();
    std::vector<net::Cidr> list;
    for (const auto& item : *items) {
      auto cidr = net::ParseCidr(item.value);
      if (!cidr.ok()) {
        return Error(item.loc, f.reader->context() + ": " + key + ": " + cidr.error().message());
      }
      list.push_back(*cidr);
    }
    if (std::string(key) == "allow") {
      allow = std::move(list);
    } else {
      deny = std::move(list);
    }
  }
  s.acl = net::AccessList(std::move(allow), std::move(deny));
  for (const char* key : {"max_instances", "per_source"}) {
    Found f = Lookup(scope, key);
    if (!f) continue;
    if (udp_wait) {
      if (f.reader != scope[0]) {
        skipped(key, "a udp wait service: its child reads every datagram itself");
        continue;
      }
      return not_for_wait(f);
    }
    auto v = AsInt(f, 1, 1'000'000);
    if (!v.ok()) return v.error();
    (std::string(key) == "max_instances" ? s.max_instances : s.per_source) = static_cast<int>(*v);
  }
  if (Found f = Lookup(scope, "rate")) {
    auto r = ParseRate(f);
    if (!r.ok()) return r.error();
    s.rate = *r;
  }
  for (const char* key : {"backoff", "timeout"}) {
    Found f = Lookup(scope, key);
    if (!f) continue;
    auto d = AsDuration(f);
    if (!d.ok()) return d.error();
    if (d->count() < 100 || d->count() > 86'400'000) {
      return f.Err("must be between 100ms and 24h");
    }
    if (std::string(key) == "backoff") {
      s.backoff = *d;
    } else {
      s.timeout = *d;
    }
  }
  // Every udp child ends: a loop or a reflection no rule caught, or a child
  // that waits for datagrams forever, cannot outlive this. A udp wait child
  // serves everybody, and tftpd-style servers idle up to 900 s by default.
  if (!s.timeout && s.transport == net::Transport::kUdp) {
    s.timeout = s.wait ? kUdpWaitTimeout : kUdpNowaitTimeout;
  }
  return Status();
}

Status Loader::LoadNamespaces(Service& s, const std::vector<const TableReader*>& scope) {
  Found f = Lookup(scope, "namespaces");
  if (!f) return Status();
  const toml::array* arr = f.node->as_array();
  if (arr == nullptr) {
    return f.Err("expected an array such as [\"pid\", \"net\"], got " + TypeName(*f.node));
  }
  s.namespaces = 0;
  for (const toml::node& el : *arr) {
    const std::string* name = el.is_string() ? &el.as_string()->get() : nullptr;
    uint32_t bit = 0;
    for (const auto& [text, flag] : kNamespaceNames) {
      if (name != nullptr && *name == text) bit = flag;
    }
    if (bit == 0) {
      return f.reader->Err(el, "namespaces",
                           (name != nullptr ? "'" + *name + "' is not" : std::string("expected")) +
                               " a namespace hinetd creates (\"pid\", \"net\", \"ipc\" or "
                               "\"uts\")");
    }
    s.namespaces |= bit;
  }
  if ((s.namespaces & kNsPid) == 0) {
    config_.warnings.push_back("service \"" + s.name +
                               "\": namespaces without \"pid\": processes its children start "
                               "can outlive them, their timeout and hinetd's stop");
  }
  return Status();
}

Status Loader::LoadSocketFile(Service& s, const std::vector<const TableReader*>& scope,
                              bool has_unix) {
  for (const char* key : {"socket_mode", "socket_user", "socket_group"}) {
    Found f = Lookup(scope, key);
    if (!f) continue;
    // From [defaults] they simply do not apply to services without a
    // unix: address; written in a service, they must have one.
    if (!has_unix) {
      if (f.reader != scope[0]) continue;
      return f.Err("applies to unix: listen addresses, and this service has none");
    }
    if (std::string(key) == "socket_mode") {
      // "0660" (a string, read as octal) or 0o660 (an integer).
      int64_t mode = -1;
      if (f.node->is_integer()) {
        mode = f.node->as_integer()->get();
      } else if (auto str = AsString(f); str.ok() && !str->empty() && str->size() <= 4 &&
                                         str->find_first_not_of("01234567") == std::string::npos) {
        mode = std::stol(*str, nullptr, 8);
      }
      if (mode < 0 || mode > 0777) {
        return f.Err("not a file mode (expected an octal string such as \"0660\", or 0o660)");
      }
      s.unix_file.mode = static_cast<mode_t>(mode);
      continue;
    }
    auto v = f.node->is_integer() ? Result<std::string>(std::to_string(f.node->as_integer()->get()))
                                  : AsString(f);
    if (!v.ok()) return v.error();
    if (std::string(key) == "socket_user") {
      auto account = ResolveUser(*v);
      if (!account.ok()) return f.Err(account.error().message());
      s.unix_file.uid = account->uid;
      s.unix_user = account->name;
    } else {
      auto gid = ResolveGroup(*v, s.unix_group);
      if (!gid.ok()) return f.Err(gid.error().message());
      s.unix_file.gid = *gid;
    }
  }
  if (has_unix && (s.unix_file.mode & S_IWOTH) != 0) {
    // Connecting takes write permission on the file.
    char mode[16];
    snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(s.unix_file.mode));
    config_.warnings.push_back("service \"" + s.name + "\": socket_mode " + mode +
                               " lets every local user connect to its unix: socket; give its "
                               "clients a group (socket_group) and use \"0660\"");
  }
  return Status();
}

Status Loader::LoadIdentity(Service& s, const std::vector<const TableReader*>& full_scope) {
  // [defaults] is meant for exec services: an internal service runs as an
  // account of its own (kInternalUser) unless the service itself names one,
  // so that no exec service shares its uid, and so could signal or trace its
  // children, by default.
  std::vector<const TableReader*> scope = full_scope;
  if (s.internal != Internal::kNone) scope.resize(1);
  Found user = Lookup(scope, "user");
  std::string user_text = kInternalUser;
  // An error about the account, at `user =` or, when defaulted, at the service.
  auto user_err = [&](const std::string& message) {
    if (user) return user.Err(message);
    return Error(s.loc, "service \"" + s.name + "\": user (default \"" + user_text + "\"): " +
                            message);
  };
  if (user) {
    if (user.node->is_integer()) {
      auto v = AsInt(user, 0, 4294967294LL);
      if (!v.ok()) return v.error();
      user_text = std::to_string(*v);
    } else {
      auto v = AsString(user);
      if (!v.ok()) return user.Err("expected a user name or a uid, got " + TypeName(*user.node));
      user_text = *v;
    }
  } else if (s.internal == Internal::kNone) {
    return Error(s.loc, "service \"" + s.name +
                            "\": user: required for an exec service: an account of its own "
                            "(e.g. user = \"hinetd-" + s.name + "\", created with useradd "
                            "--system --no-create-home --shell /usr/sbin/nologin hinetd-" +
                            s.name + ")");
  }
  auto account = ResolveUser(user_text);
  if (!account.ok()) {
    if (user) return user.Err(account.error().message());
    return user_err(account.error().message() +
                    "; internal services run as an account of their own: create it (useradd "
                    "--system --no-create-home --shell /usr/sbin/nologin " + user_text +
                    ") or set user in the service");
  }
  s.uid = account->uid;
  s.user = account->name;
  if (s.uid == 0 && !s.unconfined) {
    return user_err("runs as uid 0 (root); a service that must run as root needs "
                    "unconfined = true, every other service a dedicated unprivileged user");
  }

  if (Found group = Lookup(scope, "group")) {
    std::string text;
    if (group.node->is_integer()) {
      auto v = AsInt(group, 0, 4294967294LL);
      if (!v.ok()) return v.error();
      text = std::to_string(*v);
    } else {
      auto v = AsString(group);
      if (!v.ok()) return group.Err("expected a group name or a gid, got " + TypeName(*group.node));
      text = *v;
    }
    auto gid = ResolveGroup(text, s.group);
    if (!gid.ok()) return group.Err(gid.error().message());
    if (*gid == 0 && !s.unconfined) {
      return group.Err("group 0 (root) needs unconfined = true, like uid 0");
    }
    s.gid = *gid;
  } else if (account->has_entry) {
    s.gid = account->primary_gid;
    std::string name;
    auto gid = ResolveGroup(std::to_string(s.gid), name);
    s.group = gid.ok() ? name : std::to_string(s.gid);
    if (s.gid == 0 && !s.unconfined) {
      return user_err("the primary group of '" + s.user +
                      "' is 0 (root); set group to another group, or unconfined = true");
    }
  } else {
    return user_err("uid " + user_text + " has no passwd entry, so it has no primary group: "
                    "set group as well");
  }

  if (Found groups = Lookup(scope, "groups")) {
    const toml::array* arr = groups.node->as_array();
    if (arr == nullptr) {
      return groups.Err("expected an array of group names or gids, got " + TypeName(*groups.node));
    }
    for (const toml::node& el : *arr) {
      std::string text;
      if (el.is_integer()) {
        text = std::to_string(el.as_integer()->get());
      } else if (el.is_string()) {
        text = el.as_string()->get();
      } else {
        return groups.reader->Err(el, "groups", "expected a group name or gid, got " + TypeName(el));
      }
      std::string ignored;
      auto gid = ResolveGroup(text, ignored);
      if (!gid.ok()) return groups.reader->Err(el, "groups", gid.error().message());
      if (*gid == 0 && !s.unconfined) {
        return groups.reader->Err(el, "groups",
                                  "group 0 (root) as a supplementary group needs unconfined = true");
      }
      s.groups.push_back(*gid);
    }
  }
  return Status();
}

Status Loader::LoadJailAndProgram(Service& s, const std::vector<const TableReader*>& scope) {
  Found chroot = Lookup(scope, "chroot");
  Found jail = Lookup(scope, "jail");
  if (jail && s.internal != Internal::kNone) {
    // [defaults] is meant for exec services.
    if (jail.reader != scope[0]) {
      jail = Found{};
    } else {
      return jail.KeyErr("does not apply to internal services (they run in an empty jail of "
                         "their own)");
    }
  }
  if (jail && chroot) {
    // One in the service wins over one in [defaults]; both in the same
    // table contradict each other.
    if (jail.reader == chroot.reader) {
      return jail.KeyErr("a service has either jail (a tree hinetd builds) or chroot (one you "
                         "build), not both (chroot is set at " + chroot.Loc().ToString() + ")");
    }
    if (jail.reader == scope[0]) {
      chroot = Found{};
    } else {
      jail = Found{};
    }
  }
  if (jail) {
    Found exec = Lookup({scope[0]}, "exec");
    if (auto st = LoadJailTable(s, jail, exec ? exec.Loc() : s.loc); !st.ok()) return st;
  } else if (chroot) {
    auto v = AsString(chroot);
    if (!v.ok()) return v.error();
    auto canonical = sys_.CheckChroot(*v);
    if (!canonical.ok()) return chroot.Err(canonical.error().message());
    s.chroot = *canonical;
  } else if (s.internal != Internal::kNone) {
    s.chroot = kEmptyChroot;
    s.implicit_chroot = true;
  }
  Identity who{s.uid, s.gid, s.groups};
  Found workdir = Lookup(scope, "workdir");
  if (workdir && s.internal != Internal::kNone) {
    // The helper needs no working directory; [defaults] is for exec services.
    if (workdir.reader != scope[0]) {
      workdir = Found{};
    } else {
      return workdir.Err("does not apply to internal services (they run in an empty jail)");
    }
  }
  if (workdir) {
    auto v = AsString(workdir);
    if (!v.ok()) return v.error();
    if (v->empty() || (*v)[0] != '/') {
      return workdir.Err("'" + *v + "' must be an absolute path (inside the chroot, if any)");
    }
    s.workdir = *v;
  }
  // The implicit empty jail of internal services is created at start; there
  // is nothing in it to check.
  std::string root = s.chroot.value_or("/");
  if (s.jail) {
    // The tree is built by the monitor: what it will hold is the plan.
    if (workdir && s.workdir != "/") {
      bool dir = std::any_of(s.jail->entries.begin(), s.jail->entries.end(), [&](const JailEntry& e) {
        return e.kind == JailEntryKind::kDir && e.path == s.workdir;
      });
      if (!dir) {
        return workdir.Err("'" + s.workdir + "' is not a directory of the jail (add it to jail's "
                           "files or writable)");
      }
    }
    return Status();
  }
  if (!s.implicit_chroot && workdir) {
    if (auto st = sys_.CheckDirectory(root, s.workdir, who); !st.ok()) {
      return workdir.Err(st.error().message());
    }
  }
  if (!s.exec.empty()) {
    if (auto st = sys_.CheckProgram(root, s.exec[0], who); !st.ok()) {
      Found exec = Lookup({scope[0]}, "exec");
      return exec.Err(st.error().message());
    }
  }
  return Status();
}

Status Loader::LoadJailTable(Service& s, const Found& f, const SourceLoc& exec_loc) {
  const toml::table* t = f.node->as_table();
  if (t == nullptr) {
    return f.Err("expected a table such as { programs = [\"/usr/bin/prog\"], files = "
                 "[\"/etc/prog.conf\"] }, got " + TypeName(*f.node));
  }
  TableReader reader(*t, f.reader->file(), f.reader->context() + ": jail");
  if (auto st = reader.CheckKeys(kJailKeys); !st.ok()) return st;
  JailSpec spec;
  spec.loc = f.Loc();
  std::vector<const TableReader*> scope{&reader};
  for (const char* key : {"programs", "devices", "writable"}) {
    std::vector<JailItem>& out = std::string(key) == "programs" ? spec.programs
                                 : std::string(key) == "devices" ? spec.devices
                                                                 : spec.writable;
    Found k = Lookup(scope, key);
    if (!k) {
      if (std::string(key) == "devices") {
        for (const char* d : kDefaultJailDevices) spec.devices.push_back({d, "", spec.loc});
      }
      continue;
    }
    auto items = AsStringArray(k);
    if (!items.ok()) return items.error();
    for (const auto& item : *items) out.push_back({item.value, item.value, item.loc});
  }
  if (Found k = Lookup(scope, "files")) {
    const toml::array* arr = k.node->as_array();
    if (arr == nullptr) {
      return k.Err("expected an array of paths, or of { from = \"/host/path\", to = "
                   "\"/in/jail\" } tables, got " + TypeName(*k.node));
    }
    for (const toml::node& el : *arr) {
      if (const auto* str = el.as_string()) {
        spec.files.push_back({str->get(), str->get(), reader.Loc(el)});
        continue;
      }
      const toml::table* ft = el.as_table();
      if (ft == nullptr) {
        return reader.Err(el, "files", "expected a path or { from = \"/host/path\", to = "
                                       "\"/in/jail\" }, got " + TypeName(el));
      }
      TableReader fr(*ft, f.reader->file(), f.reader->context() + ": jail: files");
      if (auto st = fr.CheckKeys({"from", "to"}); !st.ok()) return st;
      Found from = Lookup({&fr}, "from");
      Found to = Lookup({&fr}, "to");
      if (!from || !to) {
        return reader.Err(el, "files", "a { from, to } entry needs both: from = the path on "
                                       "this host, to = the path in the jail");
      }
      auto fv = AsString(from);
      if (!fv.ok()) return fv.error();
      auto tv = AsString(to);
      if (!tv.ok()) return tv.error();
      spec.files.push_back({*fv, *tv, from.Loc()});
    }
  }
  if (Found k = Lookup(scope, "users")) {
    auto items = AsStringArray(k);
    if (!items.ok()) return items.error();
    for (const auto& item : *items) {
      auto a = ResolveUser(item.value);
      if (!a.ok()) {
        return Error(item.loc, "service \"" + s.name + "\": jail: users: " + a.error().message());
      }
      if (!a->has_entry) {
        return Error(item.loc, "service \"" + s.name + "\": jail: users: uid " + item.value +
                                   " has no passwd entry to copy; name an account of "
                                   "/etc/passwd");
      }
      if (a->uid == 0 || a->primary_gid == 0) {
        return Error(item.loc, "service \"" + s.name + "\": jail: users: '" + item.value +
                                   "' is root or in group 0; root is always in the jail's "
                                   "/etc/passwd (with no home and no shell), and no other "
                                   "account of uid 0 or gid 0 may be");
      }
      std::string group_name;
      auto g = ResolveGroup(std::to_string(a->primary_gid), group_name);
      JailAccount acc;
      acc.name = a->login;
      acc.uid = a->uid;
      acc.gid = a->primary_gid;
      acc.group = g.ok() && !group_name.empty() ? group_name : "";
      acc.gecos = a->gecos;
      acc.home = a->home;
      acc.shell = a->shell;
      acc.loc = item.loc;
      spec.users.push_back(std::move(acc));
    }
  }
  JailOwner owner;
  owner.service = s.name;
  owner.context = "service \"" + s.name + "\"";
  owner.program = s.exec[0];
  owner.program_loc = exec_loc;
  owner.user = s.user;
  owner.uid = s.uid;
  owner.group = s.group;
  owner.gid = s.gid;
  owner.groups = s.groups;
  auto plan = PlanJail(spec, owner, config_.daemon.jail_dir);
  if (!plan.ok()) return plan.error();
  s.chroot = plan->root;
  s.jail = std::make_shared<const JailPlan>(std::move(*plan));
  return Status();
}

Status Loader::LoadEnv(Service& s, const std::vector<const TableReader*>& scope) {
  Found env = Lookup(scope, "env");
  if (!env) return Status();
  const toml::table* t = env.node->as_table();
  if (t == nullptr) {
    return env.Err("expected a table such as { LANG = \"C\" }, got " + TypeName(*env.node));
  }
  TableReader reader(*t, env.reader->file(), env.reader->context() + ": env");
  for (auto&& [key, node] : *t) {
    std::string name(key.str());
    Found f = Entry(reader, key, node);
    bool valid = !name.empty() && !(name[0] >= '0' && name[0] <= '9') &&
                 std::all_of(name.begin(), name.end(), [](char c) {
                   return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '_';
                 });
    if (!valid) return f.KeyErr("not a valid variable name (letters, digits and '_')");
    if (std::find(kReservedEnv.begin(), kReservedEnv.end(), name) != kReservedEnv.end()) {
      return f.KeyErr("set by hinetd for every connection; it cannot be overridden");
    }
    auto v = AsString(f);
    if (!v.ok()) return v.error();
    if (v->find('\0') != std::string::npos) return f.Err("a value cannot hold a NUL byte");
    s.env.emplace_back(name, *v);
  }
  std::sort(s.env.begin(), s.env.end());
  return Status();
}

Status Loader::LoadRlimits(Service& s, const std::vector<const TableReader*>& scope) {
  struct Spec {
    const char* key;
    int resource;
    enum { kSeconds, kBytes, kCount } unit;
    const char* systemd;  // the unit directive that sets hinetd's own limit
  };
  static constexpr Spec kSpecs[] = {
      {"cpu", RLIMIT_CPU, Spec::kSeconds, "LimitCPU="},
      {"as", RLIMIT_AS, Spec::kBytes, "LimitAS="},
      {"data", RLIMIT_DATA, Spec::kBytes, "LimitDATA="},
      {"stack", RLIMIT_STACK, Spec::kBytes, "LimitSTACK="},
      {"fsize", RLIMIT_FSIZE, Spec::kBytes, "LimitFSIZE="},
      {"core", RLIMIT_CORE, Spec::kBytes, "LimitCORE="},
      {"nofile", RLIMIT_NOFILE, Spec::kCount, "LimitNOFILE="},
      {"nproc", RLIMIT_NPROC, Spec::kCount, "LimitNPROC="},
      {"memlock", RLIMIT_MEMLOCK, Spec::kBytes, "LimitMEMLOCK="}};

  // Defaults every child gets unless the service says otherwise: no core
  // dumps (they would land in the jail and may hold secrets), and the
  // classic 1024 descriptors (select() breaks above FD_SETSIZE) whatever
  // hinetd raised its own limit to.
  const rlimit& nofile = OwnLimit(RLIMIT_NOFILE);
  s.rlimits = {{"core", RLIMIT_CORE, 0, 0},
               {"nofile", RLIMIT_NOFILE, std::min<rlim_t>(1024, nofile.rlim_max), nofile.rlim_max}};

  Found f = Lookup(scope, "rlimits");
  if (!f) return Status();
  const toml::table* t = f.node->as_table();
  if (t == nullptr) {
    return f.Err("expected a table such as { cpu = \"10s\", nofile = 64 }, got " +
                 TypeName(*f.node));
  }
  TableReader reader(*t, f.reader->file(), f.reader->context() + ": rlimits");
  if (auto st = reader.CheckKeys(kRlimitKeys); !st.ok()) return st;
  for (auto&& [key, node] : *t) {
    std::string name(key.str());
    Found entry = Entry(reader, key, node);
    const Spec* spec = nullptr;
    for (const auto& sp : kSpecs) {
      if (name == sp.key) spec = &sp;
    }
    rlim_t value = 0;
    if (node.is_string() && node.as_string()->get() == "unlimited") {
      value = RLIM_INFINITY;
    } else if (node.is_integer()) {
      auto v = AsInt(entry, 0, INT64_MAX);
      if (!v.ok()) return v.error();
      value = static_cast<rlim_t>(*v);
    } else if (node.is_string() && spec->unit != Spec::kCount) {
      std::string text = node.as_string()->get();
      if (spec->unit == Spec::kSeconds) {
        auto d = ParseDuration(text);
        if (!d.ok()) return entry.Err(d.error().message());
        if (d->count() % 1000 != 0) {
          return entry.Err("the CPU limit has a resolution of whole seconds");
        }
        value = static_cast<rlim_t>(d->count() / 1000);
      } else {
        auto sz = ParseSize(text);
        if (!sz.ok()) return entry.Err(sz.error().message());
        value = *sz;
      }
    } else {
      return entry.Err(std::string("expected ") +
                       (spec->unit == Spec::kCount ? "an integer"
                        : spec->unit == Spec::kSeconds
                            ? "a duration such as \"10s\" or an integer (seconds)"
                            : "a size such as \"256M\" or an integer (bytes)") +
                       " or \"unlimited\", got " + TypeName(node));
    }
    if (spec->resource == RLIMIT_CPU && value == 0) {
      return entry.Err("0 seconds would kill the child at once; use at least 1s");
    }
    // hinetd does not keep CAP_SYS_RESOURCE: a child can lower limits, never
    // raise them above hinetd's own hard limit.
    const rlimit& own = OwnLimit(spec->resource);
    if (own.rlim_max != RLIM_INFINITY && (value == RLIM_INFINITY || value > own.rlim_max)) {
      return entry.Err("exceeds hinetd's own hard limit " + std::to_string(own.rlim_max) +
                       " (raise it where hinetd starts, e.g. " + spec->systemd +
                       " in the systemd unit)");
    }
    auto it = std::find_if(s.rlimits.begin(), s.rlimits.end(),
                           [&](const Rlimit& r) { return r.resource == spec->resource; });
    if (it != s.rlimits.end()) {
      it->soft = it->hard = value;
    } else {
      s.rlimits.push_back({name, spec->resource, value, value});
    }
  }
  return Status();
}

Status Loader::LoadDropsPrivileges(Service& s, const std::vector<const TableReader*>& scope) {
  Found f = Lookup(scope, "drops_privileges");
  // [defaults] is meant for programs; internal services never change identity.
  if (s.internal != Internal::kNone && f && f.reader != scope[0]) f = Found{};
  if (f) {
    auto v = AsBool(f);
    if (!v.ok()) return v.error();
    s.drops_privileges = *v;
  }
  if (!s.drops_privileges) {
    // A program that changes its identity fails without it (EPERM, or the
    // policy's default action): say which key makes it work.
    if (s.internal == Internal::kNone && !s.exec.empty()) {
      std::string call = ImportsIdentityChange(s.chroot.value_or("/"), s.exec[0]);
      if (!call.empty()) {
        config_.warnings.push_back(
            "service \"" + s.name + "\": its program " + s.exec[0] + " may call " + call +
            "(), which fails in hinetd's children (they hold no capability); if it drops "
            "privileges itself, set drops_privileges = true and include the \"identity\" "
            "policy");
      }
    }
    return Status();
  }
  if (s.internal != Internal::kNone) {
    return f.Err("internal services never change their identity; drops_privileges is for "
                 "programs (exec)");
  }
  // Its user namespace maps the service's ids onto themselves: root there
  // would be root.
  if (s.uid == 0 || s.gid == 0 ||
      std::find(s.groups.begin(), s.groups.end(), 0) != s.groups.end()) {
    return f.Err("drops_privileges = true runs the program in a user namespace that maps "
                 "only its user and groups; uid 0 and group 0 (root) cannot be among them: "
                 "set user, group and groups to unprivileged accounts");
  }
  return Status();
}

Status Loader::LoadSandbox(Service& s, const std::vector<const TableReader*>& scope) {
  Found f = Lookup(scope, "sandbox");
  // An internal service's policy is its own unless the service itself names
  // one ([defaults] is meant for exec services).
  if (s.internal != Internal::kNone && f && f.reader != scope[0]) f = Found{};
  if (f) {
    auto v = AsString(f);
    if (!v.ok()) return v.error();
    s.sandbox = *v;
  }
  if (s.sandbox == "none") {
    if (!s.unconfined) {
      return f.Err("\"none\" runs the service without a seccomp policy of its own; that "
                   "needs unconfined = true");
    }
    config_.warnings.push_back("service \"" + s.name +
                               "\" has no seccomp policy of its own (sandbox = \"none\"): only "
                               "the monitor's deny list applies");
    return Status();
  }
  SourceLoc where = f ? f.Loc() : s.loc;
  if (config_.policies.count(s.sandbox) == 0) {
    auto spec = policies_->Load(s.sandbox, where);
    if (!spec.ok()) {
      const Error& e = spec.error();
      // An error inside a policy file speaks for itself; one about the
      // reference (no such policy) says which service and key made it.
      if (e.loc().file != path_) return e;
      std::string key = f ? "sandbox" : "sandbox (default \"" + s.sandbox + "\")";
      return Error(e.loc(), "service \"" + s.name + "\": " + key + ": " + e.message());
    }
    config_.policies[s.sandbox] = std::move(*spec);
  }
  return Status();
}

// The system calls with which a process can signal, or read and write the
// memory of, another process of its uid: a service that may make one of
// them can reach every other service's children that run as the same uid.
const char* const kSignalOrTrace[] = {
    "kill",         "tkill",       "tgkill",      "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "pidfd_send_signal", "pidfd_open", "pidfd_getfd", "ptrace", "process_vm_readv",
    "process_vm_writev"};

// Why `s` can signal or trace processes of its uid ("" if it cannot): its
// policy, includes flattened, allows one of kSignalOrTrace (or only logs
// it), or it has no policy of its own.
std::string SignalOrTrace(const Config& config, const Service& s) {
  if (s.sandbox == "none") return "has no seccomp policy of its own (sandbox = \"none\")";
  auto it = config.policies.find(s.sandbox);
  if (it == config.policies.end()) return "";
  auto rules = sandbox::ExpandRules(it->second);
  if (!rules.ok()) return "";
  std::string allowed;
  for (const char* name : kSignalOrTrace) {
    auto r = rules->find(name);
    // An argument rule (kill only for pid 0, say) still reaches some process.
    bool some = r == rules->end()
                    ? it->second.default_action.kind == sandbox::ActionKind::kLog
                    : r->second.AllowsSome() ||
                          (!r->second.whole() &&
                           it->second.default_action.kind == sandbox::ActionKind::kLog);
    if (some) {
      allowed += (allowed.empty() ? "" : ", ") + std::string(name);
    }
  }
  if (allowed.empty()) return "";
  return "may signal or trace (policy \"" + s.sandbox + "\" allows " + allowed + ")";
}

std::string Quoted(const std::string& name) { return "\"" + name + "\""; }

// "a", "a and b", "a, b and c".
std::string Listed(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    out += (i == 0 ? "" : i + 1 == items.size() ? " and " : ", ") + items[i];
  }
  return out;
}

// Services that share a uid can signal and trace each other's children
// when either may (the kernel allows it within a uid): say so, once per uid.
// uid 0 is warned about on its own ("runs as root").
void WarnAboutSharedUids(Config& config) {
  // The services of each uid, in the order of each uid's first service;
  // what a policy allows is found once per policy (expanding one is the
  // costly part: a table of a thousand services has a handful).
  std::vector<uid_t> order;
  std::unordered_map<uid_t, std::vector<const Service*>> by_uid;
  for (const Service& s : config.services) {
    if (s.uid == 0) continue;
    auto [group, added] = by_uid.try_emplace(s.uid);
    if (added) order.push_back(s.uid);
    group->second.push_back(&s);
  }
  std::map<std::string, std::string, std::less<>> reason_of_policy;
  for (uid_t uid : order) {
    const std::vector<const Service*>& group = by_uid[uid];
    if (group.size() < 2) continue;
    std::vector<std::string> names;
    std::vector<std::string> why;
    for (const Service* s : group) {
      names.push_back(Quoted(s->name));
      auto [reason, added] = reason_of_policy.try_emplace(s->sandbox);
      if (added) reason->second = SignalOrTrace(config, *s);
      if (!reason->second.empty()) why.push_back(Quoted(s->name) + " " + reason->second);
    }
    if (why.empty()) continue;
    const Service& first = *group.front();
    std::string account = first.user == std::to_string(first.uid) ? "" : " (" + first.user + ")";
    config.warnings.push_back(
        "services " + Listed(names) + " share uid " + std::to_string(first.uid) + account +
        ", and " + Listed(why) + ": a child of one can signal or trace the children of " +
        (names.size() == 2 ? "the other" : "the others") +
        "; give each service a user of its own (user = ...)");
  }
}

}  // namespace

Result<Config> LoadConfigText(std::string_view text, const std::string& path) {
  return LoadConfigText(text, path, RealSystem());
}

Result<Config> LoadConfigText(std::string_view text, const std::string& path,
                              const SystemView& system) {
  Loader loader(path, system);
  auto config = loader.Run(text);
  if (!config.ok()) return config.error();
  for (const Service& s : config->services) {
    if (!s.chroot) {
      config->warnings.push_back("service \"" + s.name +
                                 "\" has no chroot: the child sees the whole file system");
    }
    if (s.uid == 0) config->warnings.push_back("service \"" + s.name + "\" runs as root");
  }
  WarnAboutSharedUids(*config);
  return config;
}

Status ResolveDaemonUser(Config& config) {
  base::SourceLoc where = config.daemon.user_loc.known() ? config.daemon.user_loc
                                                          : SourceLoc{config.path, 1, 1};
  std::string key = config.daemon.user_loc.known() ? "[daemon]: user: "
                                                   : "[daemon]: user (default \"hinetd\"): ";
  auto account = ResolveUser(config.daemon.user);
  if (!account.ok()) {
    return Error(where, key + account.error().message() +
                            "; the listener needs an account of its own: create it "
                            "(useradd --system --no-create-home --shell /usr/sbin/nologin " +
                            config.daemon.user + ") or set [daemon] user");
  }
  if (account->uid == 0) {
    return Error(where, key + "the listener must not run as root; give it an account of its own");
  }
  if (!account->has_entry) {
    return Error(where, key + "uid " + config.daemon.user + " has no passwd entry");
  }
  // The listener drops every supplementary group and runs with the primary
  // one; group 0 in either means the account is meant to be privileged
  // (files and devices of group root), and is refused rather than trusted.
  const std::string& login = account->login;
  if (account->primary_gid == 0) {
    return Error(where, key + "the primary group of '" + login +
                            "' is 0 (root): the listener would run with gid 0; give the "
                            "account a group of its own (usermod -g " + login + " " + login +
                            ", after groupadd --system " + login +
                            ") or set [daemon] user to another account");
  }
  auto in_root = InGroup(login, account->primary_gid, 0);
  if (!in_root.ok()) return Error(where, key + in_root.error().message());
  if (*in_root) {
    return Error(where, key + "'" + login +
                            "' is a member of group 0 (root) in /etc/group: the listener's "
                            "account must hold no root group; remove it (gpasswd -d " + login +
                            " root) or set [daemon] user to another account");
  }
  config.daemon.uid = account->uid;
  config.daemon.gid = account->primary_gid;
  for (const Service& s : config.services) {
    if (s.uid == config.daemon.uid) {
      return Error(s.loc, "service \"" + s.name + "\": user: runs as '" + s.user +
                              "', the listener's own account ([daemon] user); a service could "
                              "then signal the listener: give it an account of its own");
    }
  }
  return Status();
}

Result<Config> LoadConfig(const std::string& path) {
  // It says what runs as root: only root may be able to change it.
  auto text = ReadTrustedFile(path);
  if (!text.ok()) return text.error();
  return LoadConfigText(*text, path);
}

}  // namespace hinetd::config
