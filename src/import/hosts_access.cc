// hosts_access(5) -> allow / deny, for the services `hinetd import` unwraps
// from tcpd. tcpd grants access at the first rule that matches in
// hosts.allow, denies at the first that matches in hosts.deny, and grants
// otherwise; a rule's `: allow` or `: deny` option (hosts_options(5))
// decides instead of its file. The rules that name the daemon (or ALL) are
// walked in that order over sets of address blocks: each rule decides for
// the addresses no earlier rule decided. Those it denies become `deny`;
// where the rules decide for every address, what they grant becomes
// `allow` instead (hosts.deny's "ALL: ALL"). The client patterns that are
// addresses translate exactly, EXCEPT included (block arithmetic); names,
// netgroups, the wildcards and the options that run commands do not, and
// are noted.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "import/model.h"

namespace hinetd::importer {
namespace {

struct Block {
  int family = 4;  // 4 or 6
  std::array<uint8_t, 16> addr{};
  int prefix = 0;
};
using Set = std::vector<Block>;

bool Bit(const Block& b, int i) { return (b.addr[static_cast<size_t>(i / 8)] >> (7 - i % 8)) & 1; }

// True if `outer` holds every address of `inner`.
bool Holds(const Block& outer, const Block& inner) {
  if (outer.family != inner.family || outer.prefix > inner.prefix) return false;
  for (int i = 0; i < outer.prefix; ++i) {
    if (Bit(outer, i) != Bit(inner, i)) return false;
  }
  return true;
}

Block Universe(int family) { return Block{family, {}, 0}; }

// Blocks of `d` that are not in `a`.
Set SubtractOne(const Block& d, const Block& a) {
  if (Holds(a, d)) return {};
  if (!Holds(d, a)) return {d};
  // The siblings of a's ancestors below d: a.prefix - d.prefix blocks.
  Set out;
  for (int p = d.prefix + 1; p <= a.prefix; ++p) {
    Block s{a.family, {}, p};
    for (int i = 0; i < p; ++i) {
      bool bit = Bit(a, i);
      if (i == p - 1) bit = !bit;
      if (bit) s.addr[static_cast<size_t>(i / 8)] |= static_cast<uint8_t>(1 << (7 - i % 8));
    }
    out.push_back(s);
  }
  return out;
}

Set Subtract(const Set& from, const Set& minus) {
  Set cur = from;
  for (const Block& m : minus) {
    Set next;
    for (const Block& c : cur) {
      Set part = SubtractOne(c, m);
      next.insert(next.end(), part.begin(), part.end());
    }
    cur = std::move(next);
  }
  return cur;
}

Set Merge(Set s);

// Without blocks another one holds, two halves of a block merged into it;
// in address order.
Set Normalize(Set s) { return Merge(std::move(s)); }

Set Unmerged(Set s) {
  Set out;
  for (size_t i = 0; i < s.size(); ++i) {
    bool inside = false;
    for (size_t j = 0; j < s.size() && !inside; ++j) {
      if (i == j) continue;
      // Equal blocks: the first one stays.
      inside = Holds(s[j], s[i]) && (s[j].prefix < s[i].prefix || j < i);
    }
    if (!inside) out.push_back(s[i]);
  }
  std::sort(out.begin(), out.end(), [](const Block& x, const Block& y) {
    if (x.family != y.family) return x.family < y.family;
    if (x.addr != y.addr) return x.addr < y.addr;
    return x.prefix < y.prefix;
  });
  return out;
}

// The two halves of one block, if `x` and `y` are.
bool Halves(const Block& x, const Block& y) {
  if (x.family != y.family || x.prefix != y.prefix || x.prefix == 0) return false;
  for (int i = 0; i < x.prefix - 1; ++i) {
    if (Bit(x, i) != Bit(y, i)) return false;
  }
  return Bit(x, x.prefix - 1) != Bit(y, y.prefix - 1);
}

Set Merge(Set s) {
  // Each pass merges at least one pair or ends; a set of n blocks has at
  // most n - 1 merges.
  for (size_t pass = 0, limit = s.size() + 1; pass < limit; ++pass) {
    s = Unmerged(std::move(s));
    bool merged = false;
    for (size_t i = 0; i + 1 < s.size() && !merged; ++i) {
      if (!Halves(s[i], s[i + 1])) continue;
      Block parent = s[i];
      parent.prefix -= 1;
      int b = parent.prefix;
      parent.addr[static_cast<size_t>(b / 8)] &= static_cast<uint8_t>(~(1 << (7 - b % 8)));
      s[i] = parent;
      s.erase(s.begin() + static_cast<long>(i) + 1);
      merged = true;
    }
    if (!merged) break;
  }
  return s;
}

Set Union(Set a, const Set& b) {
  a.insert(a.end(), b.begin(), b.end());
  return Normalize(std::move(a));
}

bool Everything(const Set& s) {
  bool v4 = false, v6 = false;
  for (const Block& b : s) {
    if (b.prefix == 0) (b.family == 4 ? v4 : v6) = true;
  }
  return v4 && v6;
}

std::string Text(const Block& b) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(b.family == 4 ? AF_INET : AF_INET6, b.addr.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(b.prefix);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// One client pattern as address blocks, or why it cannot be.
std::optional<Set> Pattern(const std::string& p, std::string& why) {
  if (p == "ALL") return Set{Universe(4), Universe(6)};
  if (p == "LOCAL") {
    why = "LOCAL matches host names without a dot, which hinetd never looks up";
    return std::nullopt;
  }
  if (p == "KNOWN" || p == "UNKNOWN" || p == "PARANOID") {
    why = p + " depends on name lookups, which hinetd never makes";
    return std::nullopt;
  }
  if (p[0] == '@') {
    why = "netgroups (" + p + ") are not supported";
    return std::nullopt;
  }
  if (p[0] == '.') {
    why = "domain patterns (" + p + ") need name lookups, which hinetd never makes";
    return std::nullopt;
  }
  if (p[0] == '/') {
    why = "patterns read from a file (" + p + ") are not read";
    return std::nullopt;
  }
  if (p.find('@') != std::string::npos) {
    why = "user@host patterns (" + p + ") need ident (RFC 931)";
    return std::nullopt;
  }
  if (p.find_first_of("*?") != std::string::npos) {
    why = "wildcard patterns (" + p + ") are not supported";
    return std::nullopt;
  }
  Block b;
  if (p[0] == '[') {
    // [v6] or [v6]/len
    size_t close = p.find(']');
    if (close == std::string::npos) {
      why = "'" + p + "' has no closing ]";
      return std::nullopt;
    }
    std::string a = p.substr(1, close - 1);
    b.family = 6;
    b.prefix = 128;
    if (inet_pton(AF_INET6, a.c_str(), b.addr.data()) != 1) {
      why = "'" + p + "' is not an IPv6 address";
      return std::nullopt;
    }
    if (close + 1 < p.size()) {
      std::string len = p.substr(close + 1);
      if (len[0] != '/' || !AllDigits(len.substr(1)) || std::atoi(len.c_str() + 1) > 128) {
        why = "'" + p + "' has no valid /length";
        return std::nullopt;
      }
      b.prefix = std::atoi(len.c_str() + 1);
    }
  } else if (p.back() == '.') {
    // "192.168." : the addresses that start so.
    std::array<int, 4> octets{};
    int n = 0;
    size_t at = 0;
    while (at < p.size()) {
      size_t dot = p.find('.', at);
      std::string o = p.substr(at, dot - at);
      if (!AllDigits(o) || o.size() > 3 || std::atoi(o.c_str()) > 255 || n >= 3) {
        why = "'" + p + "' is a host name pattern, which needs name lookups";
        return std::nullopt;
      }
      octets[static_cast<size_t>(n++)] = std::atoi(o.c_str());
      at = dot + 1;
    }
    for (int i = 0; i < n; ++i) b.addr[static_cast<size_t>(i)] = static_cast<uint8_t>(octets[static_cast<size_t>(i)]);
    b.prefix = 8 * n;
  } else {
    std::string a = p, mask;
    if (size_t slash = p.find('/'); slash != std::string::npos) {
      a = p.substr(0, slash);
      mask = p.substr(slash + 1);
    }
    if (inet_pton(AF_INET, a.c_str(), b.addr.data()) != 1) {
      if (inet_pton(AF_INET6, a.c_str(), b.addr.data()) == 1) {
        why = "'" + p + "': tcpd writes IPv6 addresses in brackets, [" + a + "]";
      } else {
        why = "'" + p + "' is a host name, which needs name lookups";
      }
      return std::nullopt;
    }
    b.prefix = 32;
    if (!mask.empty()) {
      if (AllDigits(mask) && std::atoi(mask.c_str()) <= 32) {
        b.prefix = std::atoi(mask.c_str());
      } else {
        std::array<uint8_t, 16> m{};
        if (inet_pton(AF_INET, mask.c_str(), m.data()) != 1) {
          why = "'" + p + "' has no valid netmask";
          return std::nullopt;
        }
        uint32_t bits = (uint32_t{m[0]} << 24) | (uint32_t{m[1]} << 16) | (uint32_t{m[2]} << 8) | m[3];
        int len = 0;
        while (len < 32 && (bits & (0x80000000u >> len)) != 0) ++len;
        if (len < 32 && (bits << len) != 0) {
          why = "'" + p + "' has a netmask that is not contiguous";
          return std::nullopt;
        }
        b.prefix = len;
      }
    }
  }
  // tcpd compares net/mask as (address & mask): host bits do not count.
  for (int i = b.prefix; i < (b.family == 4 ? 32 : 128); ++i) {
    b.addr[static_cast<size_t>(i / 8)] &= static_cast<uint8_t>(~(1 << (7 - i % 8)));
  }
  return Set{b};
}

std::vector<std::string> Words(const std::string& list) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : list) {
    if (c == ',' || std::isspace(static_cast<unsigned char>(c))) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// A client list ("a b EXCEPT c EXCEPT d" = a ∪ b minus (c minus d)) from
// word `from` on.
Set ClientSet(const std::vector<std::string>& w, size_t from, std::vector<std::string>& why) {
  Set in;
  size_t i = from;
  for (; i < w.size() && w[i] != "EXCEPT"; ++i) {
    std::string reason;
    if (auto s = Pattern(w[i], reason)) {
      in = Union(in, *s);
    } else {
      why.push_back(reason);
    }
  }
  if (i < w.size()) return Normalize(Subtract(in, ClientSet(w, i + 1, why)));
  return in;
}

// Whether a daemon list names `daemon`; a daemon@host pattern for it is
// noted (hinetd has no per-address rules of this kind).
bool DaemonMatches(const std::vector<std::string>& w, size_t from, const std::string& daemon,
                   std::vector<std::string>& why) {
  bool match = false;
  size_t i = from;
  for (; i < w.size() && w[i] != "EXCEPT"; ++i) {
    std::string name = w[i];
    if (size_t at = name.find('@'); at != std::string::npos) {
      std::string head = name.substr(0, at);
      if (head == "ALL" || head == daemon) {
        why.push_back("server endpoint patterns (" + name + ") are not translated");
      }
      continue;
    }
    if (name == "ALL" || name == daemon) match = true;
  }
  if (i < w.size()) return match && !DaemonMatches(w, i + 1, daemon, why);
  return match;
}

// The next ':' separator at or after `from`, outside [IPv6] brackets.
size_t Separator(const std::string& s, size_t from) {
  bool bracket = false;
  for (size_t i = from; i < s.size(); ++i) {
    if (s[i] == '[') bracket = true;
    if (s[i] == ']') bracket = false;
    if (s[i] == ':' && !bracket) return i;
  }
  return std::string::npos;
}

}  // namespace

std::vector<HostsRule> ParseHostsAccess(const std::string& text, const std::string& path,
                                        std::vector<Note>& notes) {
  std::vector<HostsRule> rules;
  std::string logical;
  int first = 0;
  int line_no = 0;
  size_t at = 0;
  while (at <= text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    ++line_no;
    at = end + 1;
    if (logical.empty()) first = line_no;
    // A backslash at the end continues the line (hosts_access(5)).
    bool more = !line.empty() && line.back() == '\\';
    if (more) line.pop_back();
    logical += line;
    if (more && at <= text.size()) continue;
    std::string l = logical;
    logical.clear();
    size_t start = l.find_first_not_of(" \t\r");
    if (start == std::string::npos || l[start] == '#') continue;
    size_t colon = Separator(l, 0);
    if (colon == std::string::npos) {
      // tcpd warns and skips such a line.
      notes.push_back({{path, first}, "", "no ':' in this hosts_access rule: tcpd skips it too"});
      continue;
    }
    HostsRule r;
    r.where = {path, first};
    r.daemons = l.substr(0, colon);
    std::string rest = l.substr(colon + 1);
    size_t colon2 = Separator(rest, 0);
    r.clients = rest.substr(0, colon2);
    // Options: ": opt : opt ..."; the colons inside a spawn or twist
    // command are its own (the rest of the line).
    while (colon2 != std::string::npos) {
      rest = rest.substr(colon2 + 1);
      size_t s = rest.find_first_not_of(" \t");
      std::string word = s == std::string::npos ? "" : Lower(rest.substr(s, rest.find_first_of(" \t=:", s) - s));
      if (word == "spawn" || word == "twist") {
        r.options.push_back(rest.substr(s));
        break;
      }
      colon2 = Separator(rest, 0);
      std::string opt = rest.substr(0, colon2);
      size_t b = opt.find_first_not_of(" \t");
      size_t e = opt.find_last_not_of(" \t\r");
      if (b != std::string::npos) r.options.push_back(opt.substr(b, e - b + 1));
    }
    rules.push_back(std::move(r));
    if (at > text.size()) break;
  }
  return rules;
}

HostsAccessResult TranslateHostsAccess(const std::vector<HostsRule>& allow_rules,
                                       const std::vector<HostsRule>& deny_rules,
                                       const std::string& daemon) {
  HostsAccessResult out;
  Set decided, granted, denied;
  auto walk = [&](const std::vector<HostsRule>& rules, bool grants) {
    for (const HostsRule& r : rules) {
      std::vector<std::string> why;
      std::vector<std::string> dw = Words(r.daemons);
      if (!DaemonMatches(dw, 0, daemon, why)) {
        for (const auto& y : why) out.untranslated.push_back({r.where, y});
        continue;
      }
      out.rules.push_back(r.where.ToString());
      bool effect = grants;
      for (const std::string& opt : r.options) {
        std::string word = Lower(opt.substr(0, opt.find_first_of(" \t=")));
        if (word == "allow") {
          effect = true;
        } else if (word == "deny") {
          effect = false;
        } else if (word == "twist") {
          // The client talks to the command instead of the service: the
          // service is not reached.
          effect = false;
          why.push_back("option '" + opt +
                        "' (twist) is not run: these clients are denied instead");
        } else {
          why.push_back("option '" + opt + "' has no hinetd equivalent and is dropped");
        }
      }
      Set s = ClientSet(Words(r.clients), 0, why);
      Set fresh = Normalize(Subtract(s, decided));
      (effect ? granted : denied) = Union(effect ? granted : denied, fresh);
      decided = Union(decided, s);
      for (const auto& y : why) out.untranslated.push_back({r.where, y});
    }
  };
  walk(allow_rules, true);
  walk(deny_rules, false);
  if (out.rules.empty()) return out;
  if (Everything(decided)) {
    // Every address decided: what they grant is all that is admitted.
    std::vector<std::string> allow;
    for (const Block& b : Normalize(granted)) allow.push_back(Text(b));
    out.allow = std::move(allow);
  } else {
    for (const Block& b : Normalize(denied)) out.deny.push_back(Text(b));
  }
  return out;
}

}  // namespace hinetd::importer
