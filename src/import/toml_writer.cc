// The hinetd.toml text of a Conversion, and the report for stderr. Every key
// written is one hinetd.toml(5) documents for [[service]].
#include <sstream>

#include "import/model.h"

namespace hinetd::importer {
namespace {

std::string Quote(const std::string &s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string Array(const std::vector<std::string> &v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + Quote(v[i]);
  return out + "]";
}

// "# label: text", folded at about 80 columns, continuation lines indented.
void Comment(std::string &out, const std::string &label, const std::string &text,
             const std::string &indent = "") {
  std::string prefix = indent + "# " + (label.empty() ? "" : label + ": ");
  std::string cont = indent + "#   ";
  std::istringstream words(text);
  std::string word;
  std::string line = prefix;
  bool first = true;
  while (words >> word) {
    if (!first && line.size() + 1 + word.size() > 88) {
      out += line + "\n";
      line = cont;
      first = true;
    }
    line += (first ? "" : " ") + word;
    first = false;
  }
  out += line + "\n";
}

std::string ServiceTable(const Service &s) {
  std::string t = "[[service]]\n";
  t += "name = " + Quote(s.name) + "\n";
  t += "listen = " + Array(s.listen) + "\n";
  if (s.udp) t += "protocol = \"udp\"\n";
  if (s.udp && s.internal.empty()) t += std::string("wait = ") + (s.wait ? "true" : "false") + "\n";
  if (!s.internal.empty()) {
    t += "internal = " + Quote(s.internal) + "\n";
  } else {
    t += "exec = " + Array(s.exec) + "\n";
    t += "user = " + Quote(s.user) + "\n";
  }
  if (!s.group.empty()) t += "group = " + Quote(s.group) + "\n";
  if (!s.groups.empty()) t += "groups = " + Array(s.groups) + "\n";
  if (s.chroot) t += "chroot = " + Quote(*s.chroot) + "\n";
  if (s.jail) {
    std::string items;
    if (!s.jail->programs.empty()) items += "programs = " + Array(s.jail->programs);
    if (!s.jail->files.empty()) {
      items += std::string(items.empty() ? "" : ", ") + "files = [";
      for (size_t i = 0; i < s.jail->files.size(); ++i) {
        const auto &[from, to] = s.jail->files[i];
        items += (i ? ", " : "") +
                 (from == to ? Quote(from) : "{ from = " + Quote(from) + ", to = " + Quote(to) + " }");
      }
      items += "]";
    }
    t += "jail = {" + (items.empty() ? std::string() : " " + items + " ") + "}\n";
  }
  if (s.drops_privileges) t += "drops_privileges = true\n";
  if (s.syslog) t += "syslog = true\n";
  if (!s.sandbox.empty()) t += "sandbox = " + Quote(s.sandbox) + "\n";
  if (!s.env.empty()) {
    t += "env = {";
    for (size_t i = 0; i < s.env.size(); ++i) {
      t += (i ? ", " : " ") + s.env[i].first + " = " + Quote(s.env[i].second);
    }
    t += " }\n";
  }
  if (s.umask) t += "umask = " + Quote(*s.umask) + "\n";
  if (!s.rlimits.empty()) {
    t += "rlimits = {";
    for (size_t i = 0; i < s.rlimits.size(); ++i) {
      t += (i ? ", " : " ") + s.rlimits[i].first + " = " + s.rlimits[i].second;
    }
    t += " }\n";
  }
  if (s.allow) t += "allow = " + Array(*s.allow) + "\n";
  if (!s.deny.empty()) t += "deny = " + Array(s.deny) + "\n";
  if (s.max_instances) t += "max_instances = " + std::to_string(*s.max_instances) + "\n";
  if (s.per_source) t += "per_source = " + std::to_string(*s.per_source) + "\n";
  if (s.rate) t += "rate = " + Quote(*s.rate) + "\n";
  if (s.backoff) t += "backoff = " + Quote(*s.backoff) + "\n";
  return t;
}

const char *FormatName(Format f) { return f == Format::kInetd ? "inetd.conf" : "xinetd.conf"; }

}  // namespace

std::string WriteToml(const Conversion &c) {
  std::string out;
  if (!c.input.empty()) {
    out += "# hinetd.toml converted by `hinetd import` from " + c.input + " (" +
           FormatName(c.format) + " syntax).\n";
    out +=
        "#\n"
        "# Read every \"review:\" comment, then check the file: hinetd "
        "check -c FILE\n"
        "# The policies named by `sandbox` are read from [daemon] "
        "sandbox_dir, by default the\n"
        "# directory \"sandbox\" next to this file; hinetd ships them (hinetd-sandbox(5)).\n"
        "# The listener runs as the account \"hinetd\" ([daemon] user), "
        "which must exist.\n";
    size_t off = 0;
    for (const Service &s : c.services) off += s.off.empty() ? 0 : 1;
    out += "#\n# " + std::to_string(c.services.size() - off) + " service(s) active, " +
           std::to_string(off) + " written commented out (the reasons are above each).\n";
    if (!c.missing_accounts.empty()) {
      out += "# Accounts to create (then run hinetd import again):\n";
      for (const std::string &a : c.missing_accounts) {
        out +=
            "#   useradd --system --user-group --no-create-home --home-dir "
            "/nonexistent "
            "--shell /usr/sbin/nologin " +
            a + "\n";
      }
    }
    if (!c.notes.empty()) {
      out += "#\n# Not translated (hinetd import listed these on stderr too):\n";
      for (const Note &n : c.notes) {
        Comment(out, "",
                n.where.ToString() + ": " + (n.service.empty() ? "" : n.service + ": ") + n.text,
                "");
      }
    }
  }
  for (const Service &s : c.services) {
    out += "\n";
    for (const std::string &src : s.sources) Comment(out, "", src);
    for (const std::string &o : s.off) Comment(out, "off", o);
    for (const std::string &r : s.review) {
      Comment(out, r.starts_with("not translated:") ? "" : "review", r);
    }
    std::string table = ServiceTable(s);
    if (s.off.empty()) {
      out += table;
    } else {
      std::istringstream lines(table);
      std::string line;
      while (std::getline(lines, line)) out += "#" + line + "\n";
    }
  }
  return out;
}

std::string Report(const Conversion &c) {
  std::string out;
  for (const Note &n : c.notes) {
    out += "hinetd import: " + n.where.ToString() + ": " +
           (n.service.empty() ? "" : n.service + ": ") + "not translated: " + n.text + "\n";
  }
  size_t active = 0;
  for (const Service &s : c.services) {
    if (s.off.empty()) {
      ++active;
      continue;
    }
    out += "hinetd import: " + s.where.ToString() + ": " + s.name + ": written commented out: ";
    for (size_t i = 0; i < s.off.size(); ++i) out += (i ? "; " : "") + s.off[i];
    out += "\n";
  }
  for (const std::string &a : c.missing_accounts) {
    out += "hinetd import: create the account " + a +
           ": useradd --system --user-group --no-create-home --home-dir "
           "/nonexistent --shell "
           "/usr/sbin/nologin " +
           a + "\n";
  }
  out += "hinetd import: " + std::to_string(c.services.size()) + " service(s) converted, " +
         std::to_string(active) + " active, " + std::to_string(c.services.size() - active) +
         " commented out, " + std::to_string(c.notes.size()) + " item(s) not translated\n";
  if (active == 0) {
    out +=
        "hinetd import: no service is active: hinetd check refuses the file "
        "until one is "
        "(see the reasons above)\n";
  }
  return out;
}

}  // namespace hinetd::importer
