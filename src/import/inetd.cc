// inetd.conf: OpenBSD inetd (Debian's openbsd-inetd), inetutils inetd, and
// the FreeBSD max-child suffixes. One entry per line:
//   [host:]service socket-type protocol wait[.max] user[.group|:group] server
//   [argv...]
// A line starting with blanks continues the previous one (OpenBSD,
// inetutils); "#<off># " marks an entry update-inetd(8) disabled; a line
// "host:" alone sets the address of the entries after it (OpenBSD).
#include <cctype>
#include <cstring>
#include <sstream>

#include "import/model.h"

namespace hinetd::importer {
namespace {

using base::Error;
using base::Result;
using base::SourceLoc;

constexpr std::string_view kOff = "#<off>#";

struct Field {
  std::string text;
  int column;  // 1-based
};

std::vector<Field> Split(const std::string &line) {
  std::vector<Field> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) break;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    out.push_back({line.substr(start, i - start), static_cast<int>(start) + 1});
  }
  return out;
}

bool AllDigits(const std::string &s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// One logical line: its number (of the first physical line), its text.
struct Logical {
  int line;
  std::string text;
  bool off;  // "#<off># " prefix
};

std::vector<Logical> Lines(const std::string &text) {
  std::vector<Logical> out;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    bool blank = line.find_first_not_of(" \t") == std::string::npos;
    if (blank) continue;
    if ((line[0] == ' ' || line[0] == '\t') && !out.empty()) {
      out.back().text += " " + line;  // continuation, of a disabled entry too
      continue;
    }
    if (line.starts_with(kOff)) {
      out.push_back({n, line.substr(kOff.size()), true});
      continue;
    }
    if (line[0] == '#') continue;
    out.push_back({n, line, false});
  }
  return out;
}

Error At(const std::string &path, int line, int column, const std::string &msg) {
  return Error(SourceLoc{path, line, column}, msg);
}

// Parses one entry; `default_host` is the OpenBSD "host:" in force.
Result<Entry> ParseEntry(const Logical &l, const std::string &path,
                         const std::optional<std::string> &default_host) {
  std::vector<Field> f = Split(l.text);
  Entry e;
  e.where = {path, l.line};
  {
    std::string joined;
    for (const Field &x : f) joined += (joined.empty() ? "" : " ") + x.text;
    e.original = (l.off ? "#<off># " : "") + joined;
  }
  if (l.off) e.disabled = "disabled in the input (a \"#<off>#\" line of update-inetd)";
  if (f.size() < 6) {
    return At(path, l.line, 1,
              "an inetd.conf entry has at least 6 fields (service socket-type "
              "protocol "
              "wait/nowait user server [arguments]); this line has " +
                  std::to_string(f.size()) + ": complete it or comment it out with '#'");
  }
  // [host:]service
  std::string service = f[0].text;
  e.host = default_host;
  if (size_t colon = service.rfind(':'); colon != std::string::npos && service[0] != '/') {
    std::string host = service.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    e.host = host;
    service = service.substr(colon + 1);
  }
  e.name = service;
  e.port = service;

  const std::string &sock = f[1].text;
  if (sock == "stream") {
    e.udp = false;
  } else if (sock == "dgram") {
    e.udp = true;
  } else if (sock == "raw" || sock == "rdm" || sock == "seqpacket") {
    e.untranslatable = "socket type '" + sock + "': hinetd serves stream and datagram sockets only";
  } else {
    return At(path, l.line, f[1].column,
              "socket type '" + sock + "': inetd knows stream, dgram, raw, rdm and seqpacket");
  }

  const std::string &proto = f[2].text;
  if (proto.starts_with("rpc/") || (proto != "unix" && service.find('/') != std::string::npos)) {
    if (proto.starts_with("rpc/")) {
      e.untranslatable = "an RPC service (" + proto +
                         "): hinetd does not register with the portmapper "
                         "(rpcbind); run the program as a "
                         "daemon of its own";
    } else if (service.starts_with("tcpmux/")) {
      e.untranslatable =
          "a TCPMUX service (RFC 1078): hinetd has no tcpmux "
          "multiplexer; give the program a port "
          "of its own";
    } else {
      e.untranslatable = "service '" + service + "' is not a port name or number";
    }
  }
  if (proto == "unix") {
    if (service.empty() || service[0] != '/') {
      return At(path, l.line, f[0].column,
                "a unix entry names its socket by an absolute path, not '" + service + "'");
    }
    e.unix_socket = true;
    e.host.reset();
    e.name = service.substr(service.rfind('/') + 1);
    if (e.udp && e.untranslatable.empty()) {
      e.untranslatable = "a unix datagram socket: hinetd's unix: addresses are streams";
    }
  } else if (!proto.starts_with("rpc/")) {
    std::string base = proto;
    std::string fam = "4";
    for (const char *suffix : {"46", "4", "6"}) {
      if (base.size() > 3 && base.ends_with(suffix)) {
        fam = suffix;
        base = base.substr(0, base.size() - strlen(suffix));
        break;
      }
    }
    if (base != "tcp" && base != "udp") {
      return At(path, l.line, f[2].column,
                "protocol '" + proto +
                    "': inetd knows tcp, udp (with 4, 6 or 46 for the address "
                    "family), unix and "
                    "rpc/...");
    }
    e.family = fam;
    if (e.untranslatable.empty() && ((base == "udp") != e.udp)) {
      return At(path, l.line, f[2].column,
                "protocol '" + proto + "' does not go with socket type '" + sock +
                    "' (stream is tcp, dgram is udp)");
    }
  }

  // wait[.max] or FreeBSD wait/max-child/max-per-ip-per-minute/max-child-per-ip
  std::string wait = f[3].text;
  std::string suffix;
  char sep = 0;
  if (size_t p = wait.find_first_of("./"); p != std::string::npos) {
    sep = wait[p];
    suffix = wait.substr(p + 1);
    wait = wait.substr(0, p);
  }
  if (wait == "wait") {
    e.wait = true;
  } else if (wait == "nowait") {
    e.wait = false;
  } else {
    return At(path, l.line, f[3].column, "'" + f[3].text + "': the fourth field is wait or nowait");
  }
  if (sep == '.') {
    if (!AllDigits(suffix) || std::stoll(suffix) < 1 || std::stoll(suffix) > 1000000) {
      return At(path, l.line, f[3].column,
                "'" + f[3].text +
                    "': the number after the dot (how many servers a minute) is 1 to "
                    "1000000");
    }
    // OpenBSD and inetutils: at most N servers spawned within 60 seconds.
    e.rate = suffix + "/m";
    e.backoff = "60s";
    e.remarks.push_back("'" + f[3].text + "': at most " + suffix +
                        " servers a minute; inetd then stopped the service for 10 minutes, "
                        "hinetd pauses it for backoff");
  } else if (sep == '/') {
    // FreeBSD:
    // /max-child[/max-connections-per-ip-per-minute[/max-child-per-ip]]
    std::vector<std::string> parts;
    std::stringstream ss(suffix);
    std::string p;
    while (std::getline(ss, p, '/')) parts.push_back(p);
    for (const std::string &x : parts) {
      if (!AllDigits(x) || x.size() > 7) {
        return At(path, l.line, f[3].column,
                  "'" + f[3].text +
                      "': the numbers after '/' are max-child, "
                      "max-connections-per-ip-per-minute and max-child-per-ip");
      }
    }
    if (!parts.empty() && std::stoi(parts[0]) > 0) e.max_instances = std::stoi(parts[0]);
    if (parts.size() > 1 && std::stoi(parts[1]) > 0) {
      e.dropped.push_back("max-connections-per-ip-per-minute " + parts[1] +
                          ": hinetd has no per-client rate (rate is per service)");
    }
    if (parts.size() > 2 && std::stoi(parts[2]) > 0) e.per_source = std::stoi(parts[2]);
  }

  // user[.group | :group][/login-class]
  std::string user = f[4].text;
  if (size_t slash = user.find('/'); slash != std::string::npos) {
    e.dropped.push_back("login class '" + user.substr(slash + 1) + "': Linux has no login classes");
    user = user.substr(0, slash);
  }
  if (size_t p = user.find_first_of(":."); p != std::string::npos) {
    e.group = user.substr(p + 1);
    user = user.substr(0, p);
  }
  if (user.empty()) return At(path, l.line, f[4].column, "the fifth field names the user");
  e.user = user;

  if (f[5].text == "internal") {
    e.internal = true;
    for (size_t i = 6; i < f.size(); ++i) e.argv.push_back(f[i].text);
  } else {
    if (f[5].text[0] != '/') {
      return At(path, l.line, f[5].column,
                "the server '" + f[5].text + "' must be an absolute path or 'internal'");
    }
    e.server = f[5].text;
    for (size_t i = 6; i < f.size(); ++i) e.argv.push_back(f[i].text);
    // inetutils: no arguments at all means argv[0] is the program's name.
    if (e.argv.empty()) e.argv.push_back(e.server.substr(e.server.rfind('/') + 1));
  }
  return e;
}

}  // namespace

Result<Parsed> ParseInetd(const std::string &text, const std::string &path) {
  Parsed out;
  std::optional<std::string> default_host;
  for (const Logical &l : Lines(text)) {
    std::vector<Field> f = Split(l.text);
    // OpenBSD: "host:" alone sets the address of the entries that follow.
    if (f.size() == 1 && f[0].text.ends_with(':') && !l.off) {
      std::string h = f[0].text.substr(0, f[0].text.size() - 1);
      if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
      if (h == "*" || h.empty()) {
        default_host.reset();
      } else {
        default_host = h;
      }
      continue;
    }
    auto e = ParseEntry(l, path, default_host);
    if (!e.ok()) {
      if (l.off) {
        // A disabled line is a comment to inetd; not an entry, not an error.
        out.notes.push_back({{path, l.line},
                             "",
                             "a \"#<off>#\" line that is not an inetd entry (" +
                                 e.error().message() + "): not converted"});
        continue;
      }
      return e.error();
    }
    out.entries.push_back(std::move(*e));
  }
  return out;
}

Format DetectFormat(const std::string &text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<Field> f = Split(line);
    if (f.empty() || f[0].text[0] == '#') continue;
    const std::string &w = f[0].text;
    if (w == "defaults" || w == "includedir" || w == "include" || w == "{" ||
        (w == "service" && f.size() <= 3)) {
      return Format::kXinetd;
    }
    return Format::kInetd;
  }
  return Format::kInetd;
}

}  // namespace hinetd::importer
