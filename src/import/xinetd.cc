// xinetd.conf (xinetd 2.3.15): `defaults` and `service NAME` blocks of
// `attribute [=|+=|-=] values` lines, `include FILE` and `includedir DIR`.
// A service's `+=` and `-=` change what `defaults` set; `=` replaces it.
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>

#include "import/model.h"

namespace hinetd::importer {
namespace {

using base::Error;
using base::Result;
using base::SourceLoc;

// Every attribute xinetd.conf(5) of xinetd 2.3.15 documents.
const std::set<std::string>& KnownAttributes() {
  static const std::set<std::string> k = {
      "id",           "type",           "flags",          "socket_type", "protocol",
      "wait",         "user",           "group",          "instances",   "nice",
      "server",       "server_args",    "only_from",      "no_access",   "access_times",
      "log_type",     "log_on_success", "log_on_failure", "rpc_version", "rpc_number",
      "env",          "passenv",        "port",           "redirect",    "bind",
      "interface",    "banner",         "banner_success", "banner_fail", "per_source",
      "cps",          "groups",         "umask",          "enabled",     "disabled",
      "rlimit_as",    "rlimit_cpu",     "rlimit_data",    "rlimit_rss",  "rlimit_stack",
      "rlimit_files", "rlimit_core",    "deny_time",      "mdns",        "libwrap",
      "max_load",     "disable",        "v6only"};
  return k;
}

// Attributes a service inherits from `defaults`.
const std::set<std::string>& Inherited() {
  static const std::set<std::string> k = {
      "only_from",      "no_access",   "log_type",  "log_on_success", "log_on_failure",
      "passenv",        "env",         "instances", "per_source",     "cps",
      "umask",          "groups",      "bind",      "interface",      "banner",
      "banner_success", "banner_fail", "max_load",  "deny_time",      "mdns",
      "v6only",         "libwrap"};
  return k;
}

struct Value {
  std::vector<std::string> words;
  int line = 0;
  std::string file;
  bool set = false;
};

struct Block {
  std::string name;  // empty for defaults
  Where where;
  std::map<std::string, Value> attrs;
};

struct Op {
  std::string attr;
  std::string op;  // "=", "+=", "-="
  std::vector<std::string> words;
  Where where;
};

struct RawBlock {
  bool defaults = false;
  std::string name;
  Where where;
  std::vector<Op> ops;
};

std::vector<std::string> Words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

Error At(const std::string& file, int line, int col, const std::string& msg) {
  return Error(SourceLoc{file, line, col}, msg);
}

class Reader {
 public:
  explicit Reader(const SystemLookup& sys) : sys_(sys) {}

  Result<bool> ReadFile(const std::string& path, const Where* from) {
    if (depth_ > 8) {
      return At(from->file, from->line, 1, "includes nested more than 8 deep (a loop?)");
    }
    auto text = sys_.ReadFile(path);
    if (!text.ok()) {
      if (from == nullptr) return text.error();
      return At(from->file, from->line, 1, text.error().message());
    }
    ++depth_;
    auto r = Parse(*text, path);
    --depth_;
    return r;
  }

  std::vector<RawBlock> blocks;
  std::vector<Note> notes;

 private:
  Result<bool> Parse(const std::string& text, const std::string& path) {
    std::istringstream in(text);
    std::string line;
    int n = 0;
    RawBlock* open = nullptr;
    bool want_brace = false;
    RawBlock pending;
    while (std::getline(in, line)) {
      ++n;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      size_t first = line.find_first_not_of(" \t");
      if (first == std::string::npos || line[first] == '#') continue;
      std::vector<std::string> w = Words(line);
      int col = static_cast<int>(first) + 1;
      if (want_brace) {
        if (w[0] != "{") {
          return At(path, n, col,
                    "expected '{' to open the block of '" +
                        (pending.defaults ? std::string("defaults") : "service " + pending.name) +
                        "'");
        }
        blocks.push_back(pending);
        open = &blocks.back();
        want_brace = false;
        if (w.size() > 1) return At(path, n, col + 1, "nothing may follow '{' on its line");
        continue;
      }
      if (open == nullptr) {
        if (w[0] == "defaults" || w[0] == "service") {
          pending = RawBlock{};
          pending.defaults = w[0] == "defaults";
          pending.where = {path, n};
          size_t brace_at = 1;
          if (!pending.defaults) {
            if (w.size() < 2 || w[1] == "{") {
              return At(path, n, col, "'service' needs a name: service NAME");
            }
            pending.name = w[1];
            brace_at = 2;
          }
          if (w.size() > brace_at) {
            if (w[brace_at] != "{" || w.size() > brace_at + 1) {
              return At(path, n, col,
                        "unexpected '" + w[brace_at] + "' after '" + w[0] +
                            "'; the block opens with '{'");
            }
            blocks.push_back(pending);
            open = &blocks.back();
          } else {
            want_brace = true;
          }
          continue;
        }
        if (w[0] == "include" || w[0] == "includedir") {
          if (w.size() != 2) return At(path, n, col, "'" + w[0] + "' takes one path");
          Where here{path, n};
          // `blocks` may grow: `open` is null here, nothing to invalidate.
          if (w[0] == "include") {
            auto r = ReadFile(w[1], &here);
            if (!r.ok()) return r.error();
          } else {
            auto names = sys_.ListDirectory(w[1]);
            if (!names.ok()) return At(path, n, col, names.error().message());
            for (const std::string& f : *names) {
              // xinetd skips names with a dot or ending in '~' (editor
              // backups, dpkg's .dpkg-old and .dpkg-dist).
              if (f.find('.') != std::string::npos || f.ends_with('~')) continue;
              auto r = ReadFile(w[1] + "/" + f, &here);
              if (!r.ok()) return r.error();
            }
          }
          continue;
        }
        return At(path, n, col,
                  "'" + w[0] +
                      "' outside a block: xinetd.conf holds 'defaults', 'service NAME', 'include' "
                      "and 'includedir'");
      }
      // Inside a block.
      if (w[0] == "}") {
        if (w.size() > 1) return At(path, n, col + 1, "nothing may follow '}' on its line");
        open = nullptr;
        continue;
      }
      if (w[0] == "{") return At(path, n, col, "a block is already open; close it with '}'");
      // attribute op values; the operator may touch the name (attr=value).
      std::string rest = line.substr(first);
      size_t op_at = rest.find_first_of("+-=");
      size_t name_end = rest.find_first_of(" \t");
      if (op_at == std::string::npos) {
        return At(path, n, col, "'" + w[0] + "' needs an operator: ATTRIBUTE = VALUE");
      }
      std::string attr = rest.substr(0, std::min(op_at, name_end));
      size_t p = rest.find_first_not_of(" \t", attr.size());
      std::string op;
      if (rest.compare(p, 2, "+=") == 0 || rest.compare(p, 2, "-=") == 0) {
        op = rest.substr(p, 2);
      } else if (rest[p] == '=') {
        op = "=";
      } else {
        return At(path, n, col + static_cast<int>(p),
                  "'" + attr + "' needs an operator: =, += or -=");
      }
      if (KnownAttributes().count(attr) == 0) {
        return At(path, n, col,
                  "unknown attribute '" + attr + "' (xinetd.conf(5) of xinetd 2.3.15 lists them)");
      }
      Op o{attr, op, Words(rest.substr(p + op.size())), {path, n}};
      open->ops.push_back(o);
    }
    if (want_brace || open != nullptr) {
      const RawBlock& b = want_brace ? pending : *open;
      return At(path, b.where.line, 1,
                std::string(b.defaults ? "defaults" : "service " + b.name) +
                    ": the block is not closed with '}' before the end of the file");
    }
    return true;
  }

  const SystemLookup& sys_;
  int depth_ = 0;
};

// Applies ops to values, in order; `base` is what defaults gave.
std::map<std::string, Value> Resolve(const std::vector<Op>& ops,
                                     const std::map<std::string, Value>& base) {
  std::map<std::string, Value> out = base;
  for (const Op& o : ops) {
    Value& v = out[o.attr];
    if (o.op == "=") {
      v.words = o.words;
    } else if (o.op == "+=") {
      v.words.insert(v.words.end(), o.words.begin(), o.words.end());
    } else {
      for (const std::string& x : o.words) {
        v.words.erase(std::remove(v.words.begin(), v.words.end(), x), v.words.end());
      }
    }
    v.set = true;
    v.line = o.where.line;
    v.file = o.where.file;
  }
  return out;
}

bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return isdigit(c); });
}

std::string Joined(const std::vector<std::string>& w) {
  std::string s;
  for (const std::string& x : w) s += (s.empty() ? "" : " ") + x;
  return s;
}

// An only_from / no_access item as hinetd CIDR blocks; false if it names
// hosts or networks by name.
bool ToBlocks(const std::string& item, std::vector<std::string>& out) {
  // Factorized: 10.0.{1,2,3}
  if (size_t lb = item.find('{'); lb != std::string::npos) {
    size_t rb = item.find('}', lb);
    if (rb == std::string::npos || rb != item.size() - 1) return false;
    std::string prefix = item.substr(0, lb);
    std::stringstream ss(item.substr(lb + 1, rb - lb - 1));
    std::string part;
    while (std::getline(ss, part, ',')) {
      if (!ToBlocks(prefix + part, out)) return false;
    }
    return true;
  }
  std::string addr = item;
  std::string len;
  if (size_t slash = item.find('/'); slash != std::string::npos) {
    addr = item.substr(0, slash);
    len = item.substr(slash + 1);
    if (!AllDigits(len)) return false;
  }
  in6_addr a6{};
  if (inet_pton(AF_INET6, addr.c_str(), &a6) == 1) {
    out.push_back(len.empty() ? addr : addr + "/" + len);
    return true;
  }
  // IPv4, possibly with fewer than 4 parts (xinetd: "128.138" is a net).
  std::vector<std::string> parts;
  std::stringstream ss(addr);
  std::string p;
  while (std::getline(ss, p, '.')) parts.push_back(p);
  if (parts.empty() || parts.size() > 4) return false;
  for (const std::string& x : parts) {
    if (!AllDigits(x) || x.size() > 3 || std::stoi(x) > 255) return false;
  }
  if (addr == "0.0.0.0" && len.empty()) {
    // xinetd: 0.0.0.0 matches every address.
    out.push_back("0.0.0.0/0");
    out.push_back("::/0");
    return true;
  }
  if (len.empty()) {
    // Trailing zero parts, or missing ones, make a network:
    // 128.138.0.0 is 128.138.0.0/16.
    size_t significant = parts.size();
    while (significant > 0 && parts[significant - 1] == "0") --significant;
    len = std::to_string(parts.size() == 4 && significant == 4 ? 32 : 8 * significant);
  }
  while (parts.size() < 4) parts.push_back("0");
  out.push_back(parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[3] + "/" + len);
  return true;
}

// A size or count of rlimit_*: N, NK, NM, or UNLIMITED, as a TOML value.
std::optional<std::string> RlimitValue(const std::string& v, bool size) {
  if (v == "UNLIMITED" || v == "unlimited") return "\"unlimited\"";
  std::string num = v;
  char unit = 0;
  if (!v.empty() && (v.back() == 'K' || v.back() == 'k' || v.back() == 'M' || v.back() == 'm')) {
    unit = static_cast<char>(toupper(v.back()));
    num = v.substr(0, v.size() - 1);
  }
  if (!AllDigits(num) || num.size() > 12) return std::nullopt;
  if (unit != 0 && !size) return std::nullopt;
  if (unit != 0) return "\"" + num + unit + "\"";
  return num;
}

const std::set<std::string>& ReservedEnv() {
  static const std::set<std::string> k = {"PROTO",          "TCPREMOTEIP",   "TCPREMOTEPORT",
                                          "TCPLOCALIP",     "TCPLOCALPORT",  "UNIXREMOTEUID",
                                          "UNIXREMOTEGID",  "UNIXREMOTEPID", "UNIXREMOTEEUID",
                                          "UNIXREMOTEEGID", "UNIXLOCALPATH"};
  return k;
}

bool EnvName(const std::string& n) {
  if (n.empty() || isdigit(static_cast<unsigned char>(n[0]))) return false;
  return std::all_of(n.begin(), n.end(),
                     [](char c) { return isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// Attributes with no hinetd equivalent, and why.
constexpr std::pair<const char*, const char*> kDropped[] = {
    {"access_times", "hinetd has no time windows"},
    {"log_type", "hinetd logs to its own log (stderr or syslog, hinetd(8) LOGGING)"},
    {"log_on_success", "hinetd logs every accept and end with the peer, pid, status and duration"},
    {"log_on_failure", "hinetd logs every refusal with its reason"},
    {"nice", "hinetd has no scheduling priority setting"},
    {"banner", "hinetd writes no banner"},
    {"banner_success", "hinetd writes no banner"},
    {"banner_fail", "hinetd writes no banner"},
    {"max_load", "hinetd does not watch the load average"},
    {"deny_time", "hinetd has no sensor services"},
    {"mdns", "hinetd does not advertise services"},
    {"libwrap", "hinetd does not read hosts.allow / hosts.deny: write the rules as allow/deny"},
    {"v6only", "hinetd's [::] addresses are always IPv6-only; '*:PORT' listens on both"},
    {"passenv", "hinetd passes nothing of its own environment to a service; set the values in env"},
    {"groups",
     "hinetd gives a service no supplementary group it does not list; list them in groups = "
     "[...]"}};

Result<Entry> MakeEntry(const RawBlock& b, const std::map<std::string, Value>& a,
                        const std::set<std::string>& disabled_by_defaults,
                        const std::optional<std::set<std::string>>& enabled_by_defaults) {
  Entry e;
  e.where = b.where;
  e.original = "service " + b.name;
  e.name = b.name;
  auto get = [&](const std::string& k) -> const Value* {
    auto it = a.find(k);
    return it == a.end() ? nullptr : &it->second;
  };
  auto one = [&](const std::string& k) -> std::string {
    const Value* v = get(k);
    return v == nullptr || v->words.empty() ? "" : v->words[0];
  };
  auto err = [&](const std::string& k, const std::string& msg) -> Error {
    const Value* v = get(k);
    return At(v != nullptr && !v->file.empty() ? v->file : b.where.file,
              v != nullptr && v->line > 0 ? v->line : b.where.line, 1,
              "service " + b.name + ": " + k + ": " + msg);
  };
  auto drop = [&](const std::string& k, const std::string& why) {
    const Value* v = get(k);
    e.dropped.push_back(k + " = " + (v ? Joined(v->words) : "") + ": " + why);
  };

  e.id = one("id");
  const std::string id_or_name = e.id.empty() ? b.name : e.id;
  if (one("disable") == "yes") e.disabled = "disabled in the input (disable = yes)";
  if (disabled_by_defaults.count(id_or_name) || disabled_by_defaults.count(b.name)) {
    e.disabled = "disabled in the input (listed in 'disabled' of defaults)";
  }
  if (enabled_by_defaults && !enabled_by_defaults->count(id_or_name) &&
      !enabled_by_defaults->count(b.name)) {
    e.disabled = "disabled in the input (not listed in 'enabled' of defaults)";
  }

  std::set<std::string> type;
  if (const Value* v = get("type")) type.insert(v->words.begin(), v->words.end());
  std::set<std::string> flags;
  if (const Value* v = get("flags")) flags.insert(v->words.begin(), v->words.end());

  std::string sock = one("socket_type");
  if (sock.empty()) return err("socket_type", "missing: stream or dgram");
  if (sock == "stream") {
    e.udp = false;
  } else if (sock == "dgram") {
    e.udp = true;
  } else if (sock == "raw" || sock == "seqpacket") {
    e.untranslatable = "socket_type " + sock + ": hinetd serves stream and datagram sockets only";
  } else {
    return err("socket_type", "'" + sock + "': xinetd knows stream, dgram, raw and seqpacket");
  }
  std::string proto = one("protocol");
  if (!proto.empty() && proto != "tcp" && proto != "udp" && e.untranslatable.empty()) {
    e.untranslatable = "protocol " + proto + ": hinetd serves tcp and udp";
  } else if (!proto.empty() && e.untranslatable.empty() && (proto == "udp") != e.udp) {
    return err("protocol", "'" + proto + "' does not go with socket_type " + sock);
  }

  std::string wait = one("wait");
  if (wait == "yes") {
    e.wait = true;
  } else if (wait == "no") {
    e.wait = false;
  } else {
    return err("wait", wait.empty() ? "missing: yes or no" : "'" + wait + "': yes or no");
  }

  if (type.count("RPC")) {
    e.untranslatable =
        "an RPC service (type = RPC): hinetd does not register with the portmapper (rpcbind); "
        "run the program as a daemon of its own";
  }
  if (type.count("TCPMUX") || type.count("TCPMUXPLUS")) {
    e.untranslatable = "a TCPMUX service (RFC 1078): hinetd has no tcpmux multiplexer";
  }
  if (get("redirect") != nullptr) {
    e.untranslatable = "redirect = " + Joined(get("redirect")->words) +
                       ": hinetd hands the connection to a program, it does not forward it";
  }
  e.internal = type.count("INTERNAL") != 0;

  // Addresses.
  e.family = flags.count("IPv6") ? "6" : "4";
  std::string bind = one("bind");
  if (bind.empty()) bind = one("interface");
  if (!bind.empty()) {
    e.host = bind;
    in6_addr a6{};
    if (inet_pton(AF_INET6, bind.c_str(), &a6) == 1) e.family = "6";
  }
  e.port = one("port").empty() ? b.name : one("port");
  if (const Value* v = get("port"); v != nullptr && !AllDigits(one("port"))) {
    return err("port", "'" + Joined(v->words) + "' is not a port number");
  }

  e.user = one("user");
  e.group = one("group");
  if (!e.internal && e.user.empty()) return err("user", "missing: a service's user");
  if (e.internal && e.user.empty()) e.user = "root";

  if (!e.internal && e.untranslatable.empty()) {
    e.server = one("server");
    if (e.server.empty() || e.server[0] != '/') {
      return err("server", e.server.empty() ? "missing: the program's absolute path"
                                            : "'" + e.server + "' is not an absolute path");
    }
    std::vector<std::string> args;
    if (const Value* v = get("server_args")) args = v->words;
    if (flags.count("NAMEINARGS")) {
      // server_args starts with argv[0] (tcpd's convention).
      e.argv = args;
      if (e.argv.empty()) return err("server_args", "NAMEINARGS needs argv[0] in server_args");
    } else {
      e.argv.push_back(e.server.substr(e.server.rfind('/') + 1));
      e.argv.insert(e.argv.end(), args.begin(), args.end());
    }
  }

  // Admission control.
  if (const Value* v = get("only_from")) {
    std::vector<std::string> blocks;
    for (const std::string& w : v->words) {
      if (!ToBlocks(w, blocks)) {
        e.dropped.push_back("only_from " + w +
                            ": a host or network name, which hinetd does not resolve (the "
                            "service admits fewer clients: add its address)");
      }
    }
    e.allow = blocks;
  }
  if (const Value* v = get("no_access")) {
    for (const std::string& w : v->words) {
      if (!ToBlocks(w, e.deny)) {
        // Dropping a refusal would admit clients xinetd refused.
        e.disabled = "no_access " + w +
                     " names a host or network, which hinetd does not resolve: it would admit "
                     "it; write its addresses in deny";
      }
    }
  }
  auto count = [&](const std::string& k, std::optional<int>& out) -> Result<bool> {
    std::string v = one(k);
    if (v.empty() || v == "UNLIMITED") return true;
    if (!AllDigits(v) || v.size() > 7 || std::stoi(v) < 1) {
      return err(k, "'" + v + "': a positive number or UNLIMITED");
    }
    out = std::stoi(v);
    return true;
  };
  if (auto r = count("instances", e.max_instances); !r.ok()) return r.error();
  if (auto r = count("per_source", e.per_source); !r.ok()) return r.error();
  if (const Value* v = get("cps")) {
    if (v->words.size() != 2 || !AllDigits(v->words[0]) || !AllDigits(v->words[1]) ||
        v->words[0].size() > 7 || v->words[1].size() > 5 || std::stoi(v->words[0]) < 1 ||
        std::stoi(v->words[1]) < 1) {
      return err("cps", "'" + Joined(v->words) +
                            "': two positive numbers, connections a second and the seconds to "
                            "wait when over");
    }
    e.rate = v->words[0] + "/s";
    e.backoff = v->words[1] + "s";
  }

  // The child.
  static const std::pair<const char*, std::pair<const char*, bool>> kRlimits[] = {
      {"rlimit_as", {"as", true}},
      {"rlimit_data", {"data", true}},
      {"rlimit_stack", {"stack", true}},
      {"rlimit_core", {"core", true}},
      {"rlimit_files", {"nofile", false}}};
  for (const auto& [attr, key] : kRlimits) {
    std::string v = one(attr);
    if (v.empty()) continue;
    auto t = RlimitValue(v, key.second);
    if (!t) return err(attr, "'" + v + "': a number, with K or M for a size, or UNLIMITED");
    e.rlimits.push_back({key.first, *t});
  }
  if (std::string v = one("rlimit_cpu"); !v.empty()) {
    if (v == "UNLIMITED") {
      e.rlimits.push_back({"cpu", "\"unlimited\""});
    } else if (AllDigits(v) && v.size() < 8 && std::stoi(v) >= 1) {
      e.rlimits.push_back({"cpu", "\"" + v + "s\""});
    } else {
      return err("rlimit_cpu", "'" + v + "': seconds, or UNLIMITED");
    }
  }
  std::sort(e.rlimits.begin(), e.rlimits.end());
  if (get("rlimit_rss")) drop("rlimit_rss", "Linux ignores RLIMIT_RSS; use rlimits.as");
  if (const Value* v = get("env")) {
    for (const std::string& w : v->words) {
      size_t eq = w.find('=');
      std::string name = w.substr(0, eq);
      if (eq == std::string::npos || !EnvName(name)) {
        e.dropped.push_back("env " + w + ": not NAME=VALUE with a valid name");
      } else if (ReservedEnv().count(name)) {
        e.dropped.push_back("env " + name + ": hinetd sets it for each connection");
      } else {
        e.env.erase(std::remove_if(e.env.begin(), e.env.end(),
                                   [&](const auto& kv) { return kv.first == name; }),
                    e.env.end());
        e.env.push_back({name, w.substr(eq + 1)});
      }
    }
    std::sort(e.env.begin(), e.env.end());
  }
  if (std::string v = one("umask"); !v.empty()) {
    if (v.size() > 4 || v.find_first_not_of("01234567") != std::string::npos) {
      return err("umask", "'" + v + "': an octal number");
    }
    e.umask = v.size() < 3 ? std::string(3 - v.size(), '0') + v : v;
  }

  // The rest has no equivalent, each for its reason.
  for (const auto& [attr, why] : kDropped) {
    const Value* v = get(attr);
    if (v == nullptr || !v->set || v->words.empty()) continue;
    if (std::string(attr) == "groups" && v->words[0] != "yes") continue;
    drop(attr, why);
  }
  for (const std::string& f : flags) {
    if (f == "IPv4" || f == "IPv6" || f == "NAMEINARGS") continue;
    if (f == "REUSE") continue;      // hinetd sets SO_REUSEADDR on every TCP socket
    if (f == "NOLIBWRAP") continue;  // hinetd never reads hosts.allow
    std::string why = f == "SENSOR"
                          ? "hinetd has no sensor services (they ban every client that connects)"
                          : "no hinetd equivalent";
    e.dropped.push_back("flags " + f + ": " + why);
  }
  if (type.count("UNLISTED") && get("port") == nullptr && e.untranslatable.empty()) {
    return err("port", "type UNLISTED needs a port");
  }
  return e;
}

}  // namespace

Result<Parsed> ParseXinetd(const std::string& path, const SystemLookup& sys) {
  Reader reader(sys);
  auto r = reader.ReadFile(path, nullptr);
  if (!r.ok()) return r.error();
  Parsed out;
  out.notes = reader.notes;
  // defaults: every `defaults` block, in order (xinetd allows one; more add).
  std::map<std::string, Value> defaults;
  std::set<std::string> disabled;
  std::optional<std::set<std::string>> enabled;
  for (const RawBlock& b : reader.blocks) {
    if (!b.defaults) continue;
    for (const Op& o : b.ops) {
      if (o.attr == "disabled") {
        disabled.insert(o.words.begin(), o.words.end());
        continue;
      }
      if (o.attr == "enabled") {
        if (!enabled) enabled.emplace();
        enabled->insert(o.words.begin(), o.words.end());
        continue;
      }
      if (Inherited().count(o.attr) == 0) {
        return At(o.where.file, o.where.line, 1,
                  "defaults: '" + o.attr + "' belongs in a service, not in defaults");
      }
    }
    defaults = Resolve(b.ops, defaults);
  }
  // Inherited values count as "set" in a service only where the service
  // sets them; a note about a defaults value is made once, here.
  for (auto& [k, v] : defaults) v.set = false;
  for (const RawBlock& b : reader.blocks) {
    if (b.defaults) continue;
    std::map<std::string, Value> a = Resolve(b.ops, defaults);
    auto e = MakeEntry(b, a, disabled, enabled);
    if (!e.ok()) return e.error();
    out.entries.push_back(std::move(*e));
  }
  for (const auto& [attr, why] : kDropped) {
    auto it = defaults.find(attr);
    if (it == defaults.end() || it->second.words.empty()) continue;
    if (std::string(attr) == "groups" && it->second.words[0] != "yes") continue;
    out.notes.push_back(
        {{it->second.file, it->second.line},
         "",
         "defaults: " + std::string(attr) + " = " + Joined(it->second.words) + ": " + why});
  }
  return out;
}

}  // namespace hinetd::importer
