// Entries -> hinetd services. Everything the old superserver did that
// hinetd does differently is said in a review comment; everything it did
// that hinetd cannot do is a Note; everything this host lacks for a service
// to load turns the service off (written commented out, with the reason), so
// that what is written always passes `hinetd check`.
#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <set>

#include "import/model.h"

namespace hinetd::importer {
namespace {

constexpr const char *kInternals[] = {"echo", "discard", "chargen", "daytime", "time"};
constexpr const char *kInternalUser = "hinetd-internal";

std::string Basename(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool AllDigits(const std::string &s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A hinetd service name: [A-Za-z0-9_-]+, at most 64 characters.
std::string SafeName(const std::string &s) {
  std::string out;
  for (char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    out += ok ? c : '-';
  }
  if (out.empty()) out = "service";
  if (out.size() > 48) out.resize(48);
  return out;
}

std::string CreateAccountHint(const std::string &user) {
  return "useradd --system --user-group --no-create-home --home-dir "
         "/nonexistent --shell "
         "/usr/sbin/nologin " +
         user;
}

bool IsV4(const std::string &s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}
bool IsV6(const std::string &s) {
  in6_addr a{};
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

// The listen addresses of an entry; a reason in `off` when it has none.
void Listen(const Entry &e, const SystemLookup &sys, Service &s) {
  if (e.unix_socket) {
    s.listen.push_back("unix:" + e.port);
    return;
  }
  std::string port = e.port;
  if (AllDigits(port)) {
    long n = port.size() <= 5 ? std::stol(port) : 0;
    if (n < 1 || n > 65535) {
      s.off.push_back("port " + port + " is not 1 to 65535");
      return;
    }
  } else {
    const char *proto = e.udp ? "udp" : "tcp";
    auto p = sys.ServicePort(port, proto);
    if (!p) {
      s.off.push_back("no port for '" + port + "/" + proto +
                      "' in /etc/services: add it there, or give the port number");
      s.listen.push_back("0.0.0.0:" + port);
      return;
    }
    port = std::to_string(*p);
  }
  std::string host = e.host.value_or("*");
  if (host == "localhost") {
    s.review.push_back("'localhost' is written as the loopback address of each family");
    if (e.family != "6") s.listen.push_back("127.0.0.1:" + port);
    if (e.family != "4") s.listen.push_back("[::1]:" + port);
    return;
  }
  if (host == "*" || host.empty()) {
    if (e.family == "4") s.listen.push_back("0.0.0.0:" + port);
    if (e.family == "6") s.listen.push_back("[::]:" + port);
    if (e.family == "46") s.listen.push_back("*:" + port);
    return;
  }
  if (IsV4(host)) {
    s.listen.push_back(host + ":" + port);
  } else if (IsV6(host)) {
    s.listen.push_back("[" + host + "]:" + port);
  } else {
    s.off.push_back("it listens on the host name '" + host +
                    "': hinetd listens on numeric addresses only; write the address");
    s.listen.push_back("0.0.0.0:" + port);
  }
}

bool IsRootUser(const std::string &u) { return u == "root" || u == "0"; }
bool IsRootGroup(const std::string &g) { return g == "root" || g == "wheel" || g == "0"; }

void NeedAccount(const std::string &user, const SystemLookup &sys, Service &s,
                 std::set<std::string> &missing) {
  if (sys.UserExists(user)) return;
  s.off.push_back("no account '" + user + "' on this host: create it with " +
                  CreateAccountHint(user) + ", then run hinetd import again");
  missing.insert(user);
}

// tcpd's rules, read once (for the first entry that runs tcpd).
struct TcpdRules {
  HostsFiles files;
  bool loaded = false;
  std::vector<HostsRule> allow;
  std::vector<HostsRule> deny;
  std::vector<std::string> read;  // the files that were read
};

void LoadTcpdRules(const SystemLookup &sys, TcpdRules &rules, std::vector<Note> &notes) {
  if (rules.loaded) return;
  rules.loaded = true;
  for (auto [path, out] : {std::pair{&rules.files.allow, &rules.allow},
                           std::pair{&rules.files.deny, &rules.deny}}) {
    if (path->empty()) continue;
    auto text = sys.ReadFile(*path);
    if (!text.ok()) {
      // tcpd reads a missing file as no rules. (Built field by field: GCC
      // 12 at -O3 takes the nested braced temporary for uninitialized.)
      Note note;
      note.where.file = *path;
      note.text = "tcpd access control: " + *path +
                  " could not be read, so it gives no rules (as for tcpd): " +
                  text.error().message();
      notes.push_back(std::move(note));
      continue;
    }
    rules.read.push_back(*path);
    *out = ParseHostsAccess(*text, *path, notes);
  }
}

// The rules of hosts.allow and hosts.deny for `daemon`, as allow and deny.
void ApplyTcpdRules(const Entry &e, const std::string &daemon, const TcpdRules &rules, Service &s,
                    std::vector<Note> &notes) {
  if (rules.files.allow.empty() && rules.files.deny.empty()) {
    notes.push_back({e.where, e.name,
                     "tcpd access control (hosts.allow, hosts.deny) was not read: give "
                     "--hosts-allow FILE --hosts-deny FILE (read by default only for "
                     "/etc/inetd.conf and /etc/xinetd.conf, this host's own)"});
    s.review.push_back("unwrapped from tcpd: its hosts.allow and hosts.deny were not read; "
                       "write their rules for " + daemon + " as allow and deny");
    return;
  }
  HostsAccessResult r = TranslateHostsAccess(rules.allow, rules.deny, daemon);
  for (const auto &u : r.untranslated) {
    notes.push_back({u.where, e.name, "hosts_access rule for " + daemon + ": " + u.why});
  }
  std::string files;
  for (const auto &f : rules.read) files += (files.empty() ? "" : " and ") + f;
  if (r.rules.empty()) {
    s.review.push_back("unwrapped from tcpd: no rule of " +
                       (files.empty() ? std::string("hosts.allow/hosts.deny (not read)") : files) +
                       " names " + daemon + " or ALL, so tcpd let every client in; so does "
                       "this service");
    return;
  }
  std::string where;
  for (const auto &w : r.rules) where += (where.empty() ? "" : ", ") + w;
  s.allow = r.allow;
  s.deny = r.deny;
  s.review.push_back("unwrapped from tcpd: allow and deny are tcpd's decision for " + daemon +
                     " from " + where);
  if (!r.untranslated.empty()) {
    s.review.push_back(
        "some of those rules could not be translated (names, netgroups, options; see the "
        "notes): review allow and deny before use");
  }
}

// One entry; false if it has no hinetd equivalent (then a Note is added).
bool TranslateEntry(const Entry &e, const SystemLookup &sys, Service &s, bool &root_user,
                    std::vector<Note> &notes, TcpdRules &tcpd) {
  s.where = e.where;
  s.sources.push_back(e.where.ToString() + ": " + e.original);
  s.name = SafeName(e.id.empty() ? e.name : e.id);
  s.udp = e.udp;
  if (!e.untranslatable.empty()) {
    notes.push_back({e.where, e.name, e.untranslatable});
    return false;
  }
  if (!e.udp && e.wait && !e.unix_socket) {
    notes.push_back({e.where, e.name,
                     "a stream service with 'wait': the program accepts "
                     "connections itself from "
                     "the listening socket, which hinetd never hands over; run "
                     "it as a daemon"});
    return false;
  }
  if (e.unix_socket && e.wait) {
    notes.push_back({e.where, e.name,
                     "a unix socket with 'wait': hinetd hands each connection "
                     "to a child of its "
                     "own, never the listening socket"});
    return false;
  }
  if (!e.disabled.empty()) s.off.push_back(e.disabled);
  Listen(e, sys, s);

  if (e.internal) {
    std::string kind = e.name;
    if (std::find(std::begin(kInternals), std::end(kInternals), kind) == std::end(kInternals)) {
      notes.push_back({e.where, e.name,
                       "internal service '" + kind +
                           "': hinetd's internal services are echo, discard, "
                           "chargen, daytime "
                           "and time"});
      return false;
    }
    s.internal = kind;
    s.review.push_back(
        "internal: served by the helper hinetd-internal, as the account "
        "hinetd-internal, in an empty chroot, under the \"internal\" policy "
        "(the user '" +
        e.user + "' of the input does not apply)");
    if (e.udp && e.wait) {
      s.review.push_back(
          "the input had 'wait'; hinetd answers each UDP peer of an internal "
          "service from a child of its own");
    }
  } else {
    s.wait = e.wait;
    std::string program = e.server;
    std::vector<std::string> args(e.argv.begin() + (e.argv.empty() ? 0 : 1), e.argv.end());
    if (Basename(e.server) == "tcpd") {
      // tcpd(8) runs argv[0]: a path, or a name in its REAL_DAEMON_DIR
      // (/usr/sbin on Debian), after consulting hosts.allow and hosts.deny.
      std::string real = e.argv.empty() ? "" : e.argv[0];
      if (real.empty()) {
        notes.push_back({e.where, e.name, "tcpd with no program to run"});
        return false;
      }
      if (real[0] != '/') real = "/usr/sbin/" + real;
      program = real;
      // tcpd matches its rules against the process name: argv[0]'s last
      // component.
      LoadTcpdRules(sys, tcpd, notes);
      ApplyTcpdRules(e, Basename(e.argv[0]), tcpd, s, notes);
    } else if (!e.argv.empty() && Basename(e.argv[0]) != Basename(e.server)) {
      s.review.push_back("argv[0] was '" + e.argv[0] + "'; hinetd passes the program's path '" +
                         e.server + "' as argv[0]");
    }
    s.exec.push_back(program);
    s.exec.insert(s.exec.end(), args.begin(), args.end());
    if (!sys.IsProgram(program)) {
      s.off.push_back("the program " + program +
                      " is not on this host (install it; hinetd checks it when it loads)");
    }

    // The account: never root. A dedicated one is named after the service
    // once names are unique (Translate).
    if (IsRootUser(e.user)) {
      root_user = true;
    } else {
      s.user = e.user;
    }
    if (!e.group.empty()) {
      if (IsRootGroup(e.group)) {
        s.review.push_back("group '" + e.group +
                           "' (gid 0) dropped: hinetd refuses group 0; the user's own group "
                           "applies");
      } else {
        s.group = e.group;
        if (!sys.GroupExists(e.group)) {
          s.off.push_back("no group '" + e.group + "' on this host: create it (groupadd --system " +
                          e.group + ")");
        }
      }
    }
    for (const std::string &g : e.groups) {
      if (!IsRootGroup(g)) s.groups.push_back(g);
    }

    if (std::string why = NeedsRoot(program); !why.empty()) {
      notes.push_back({e.where, e.name, "needs root, which hinetd never gives a service: " + why});
    }
  }

  if (e.allow || !e.deny.empty()) {
    s.allow = e.allow;
    s.deny = e.deny;
  }
  s.max_instances = e.max_instances;
  s.per_source = e.per_source;
  s.rate = e.rate;
  s.backoff = e.backoff;
  s.rlimits = e.rlimits;
  s.env = e.env;
  s.umask = e.umask;
  if (!s.internal.empty() && !s.env.empty()) {
    s.review.push_back("env dropped: an internal service has no environment to use it");
    s.env.clear();
  }
  for (const std::string &r : e.remarks) s.review.push_back(r);
  for (const std::string &d : e.dropped) {
    s.review.push_back("not translated: " + d);
    notes.push_back({e.where, e.name, d});
  }
  return true;
}

// A listen address as written: family ("4", "6", "*" for both, "unix"),
// host (empty for a wildcard), port or path.
struct Addr {
  std::string family, host, port;
};

Addr ParseAddr(const std::string &a) {
  if (a.starts_with("unix:")) return {"unix", "", a.substr(5)};
  size_t colon = a.rfind(':');
  std::string host = a.substr(0, colon);
  std::string port = a.substr(colon + 1);
  if (host == "*") return {"*", "", port};
  if (host.starts_with("[")) {
    host = host.substr(1, host.size() - 2);
    return {"6", host == "::" ? "" : host, port};
  }
  return {"4", host == "0.0.0.0" ? "" : host, port};
}

// hinetd binds an address once per protocol: equal, or a wildcard of the
// same family (hinetd.toml(5), "Listen addresses").
bool Overlap(const std::string &x, const std::string &y) {
  Addr a = ParseAddr(x);
  Addr b = ParseAddr(y);
  if (a.family == "unix" || b.family == "unix") return a.family == b.family && a.port == b.port;
  if (a.port != b.port) return false;
  if (a.family == "*" || b.family == "*") return true;
  return a.family == b.family && (a.host.empty() || b.host.empty() || a.host == b.host);
}

// Everything but the name, listen addresses and sources: services equal in
// this are one service on several addresses (git on tcp4 and tcp6).
std::string Signature(const Service &s) {
  Service c = s;
  c.listen.clear();
  c.sources.clear();
  c.where = {};
  return WriteToml(Conversion{"", Format::kInetd, {c}, {}, {}});
}

}  // namespace

Conversion Translate(const Parsed &parsed, const std::string &input, Format format,
                     const SystemLookup &sys, const HostsFiles &hosts) {
  TcpdRules tcpd;
  tcpd.files = hosts;
  Conversion out;
  out.input = input;
  out.format = format;
  out.notes = parsed.notes;
  struct Pending {
    Service s;
    bool root_user = false;
  };
  std::vector<Pending> services;
  for (const Entry &e : parsed.entries) {
    Pending p;
    if (TranslateEntry(e, sys, p.s, p.root_user, out.notes, tcpd)) {
      services.push_back(std::move(p));
    }
  }
  // Merge what differs only in its addresses, when the addresses do not
  // overlap (hinetd binds each address once per protocol).
  std::vector<Pending> merged;
  for (Pending &p : services) {
    bool done = false;
    for (Pending &m : merged) {
      if (m.s.name != p.s.name || m.s.udp != p.s.udp || m.root_user != p.root_user ||
          Signature(m.s) != Signature(p.s)) {
        continue;
      }
      bool overlap = false;
      for (const std::string &a : p.s.listen) {
        overlap = overlap || std::find(m.s.listen.begin(), m.s.listen.end(), a) != m.s.listen.end();
      }
      if (overlap) continue;
      m.s.listen.insert(m.s.listen.end(), p.s.listen.begin(), p.s.listen.end());
      m.s.sources.insert(m.s.sources.end(), p.s.sources.begin(), p.s.sources.end());
      done = true;
      break;
    }
    if (!done) merged.push_back(std::move(p));
  }
  // Unique names: the first keeps its own, the next get the protocol, then a
  // number. Then the accounts, which may follow the name.
  std::set<std::string> taken;
  std::set<std::string> missing;
  for (Pending &p : merged) {
    Service &s = p.s;
    std::string name = s.name;
    if (taken.count(name) != 0) name = s.name + (s.udp ? "-udp" : "-tcp");
    for (int i = 2; taken.count(name) != 0; ++i) name = s.name + "-" + std::to_string(i);
    s.name = name;
    taken.insert(name);
    if (!s.internal.empty()) {
      NeedAccount(kInternalUser, sys, s, missing);
      continue;
    }
    if (p.root_user) {
      s.user = "hinetd-" + s.name;
      s.review.insert(s.review.begin(),
                      "ran as root; hinetd never runs a service as root: it "
                      "runs as an account "
                      "of its own, '" +
                          s.user + "'");
    }
    // The sandbox may name the account (in.tftpd's --user).
    FitSandbox(s, sys);
    NeedAccount(s.user, sys, s, missing);
  }
  // Two services on one address (xinetd's examples ship chargen's UDP
  // version twice): the later one is off, as xinetd could not bind it either.
  for (size_t i = 0; i < merged.size(); ++i) {
    Service &s = merged[i].s;
    for (size_t j = 0; j < i; ++j) {
      const Service &t = merged[j].s;
      // An active service is turned off only by an active one.
      if (t.udp != s.udp || (!t.off.empty() && s.off.empty())) continue;
      bool clash = false;
      for (const std::string &x : s.listen) {
        for (const std::string &y : t.listen) clash = clash || Overlap(x, y);
      }
      if (clash) {
        s.off.push_back("it listens on an address of '" + t.name + "' (" + t.where.ToString() +
                        "), which hinetd binds once: keep one of the two");
        break;
      }
    }
  }
  // Services that share an account can signal each other's children:
  // hinetd check warns; say it where it can be fixed.
  for (Pending &p : merged) {
    Service &s = p.s;
    if (s.user.empty()) continue;
    std::vector<std::string> others;
    for (const Pending &q : merged) {
      if (&q != &p && q.s.user == s.user) others.push_back(q.s.name);
    }
    if (others.empty()) continue;
    std::string list;
    for (const std::string &o : others) list += (list.empty() ? "" : ", ") + o;
    s.review.push_back("shares the account '" + s.user + "' with " + list +
                       ": their children can signal each other; give it an account of its own "
                       "(e.g. hinetd-" +
                       s.name + ")");
  }
  for (Pending &p : merged) out.services.push_back(std::move(p.s));
  out.missing_accounts.assign(missing.begin(), missing.end());
  return out;
}

}  // namespace hinetd::importer
