// A host for hinetd import's tests: accounts, groups, programs, port names
// and files exactly as the test says, nothing read from the real system.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "import/model.h"

namespace hinetd::testing {

class FakeSystem final : public importer::SystemLookup {
 public:
  FakeSystem() {
    // The ports of /etc/services the tests use.
    for (auto [name, port] : std::map<std::string, uint16_t>{
             {"echo", 7},    {"discard", 9}, {"daytime", 13}, {"chargen", 19}, {"time", 37},
             {"telnet", 23}, {"finger", 79}, {"tftp", 69},    {"talk", 517},   {"ntalk", 518},
             {"rsync", 873}, {"git", 9418},  {"hello", 4242}, {"ftp", 21},     {"a", 5001},
             {"b", 5002},    {"c", 5003},    {"d", 5004},     {"e", 5005},     {"x", 5006},
             {"y", 5007}}) {
      ports[name] = port;
    }
  }

  std::set<std::string> users{"nobody", "alice", "hinetd-internal"};
  std::set<std::string> groups{"tty", "staff", "nogroup"};
  std::set<std::string> programs;
  std::map<std::string, uint16_t> ports;
  std::map<std::string, std::string> files;
  std::map<std::string, std::vector<std::string>> dirs;
  std::set<std::string> syslog_programs;  // ELF files that import syslog(3)

  std::optional<uint16_t> ServicePort(const std::string &name,
                                      const std::string &proto) const override {
    if (proto != "tcp" && proto != "udp") return std::nullopt;
    auto it = ports.find(name);
    if (it == ports.end()) return std::nullopt;
    return it->second;
  }
  bool UserExists(const std::string &name) const override { return users.count(name) != 0; }
  bool GroupExists(const std::string &name) const override { return groups.count(name) != 0; }
  bool IsProgram(const std::string &path) const override { return programs.count(path) != 0; }
  bool Exists(const std::string &path) const override {
    return programs.count(path) != 0 || files.count(path) != 0 || dirs.count(path) != 0;
  }
  bool ImportsSyslog(const std::string &program) const override {
    return syslog_programs.count(program) != 0;
  }
  base::Result<std::string> ReadFile(const std::string &path) const override {
    auto it = files.find(path);
    if (it == files.end())
      return base::Error("cannot open " + path + ": No such file or directory (ENOENT)");
    return it->second;
  }
  base::Result<std::vector<std::string>> ListDirectory(const std::string &path) const override {
    auto it = dirs.find(path);
    if (it == dirs.end()) {
      return base::Error("cannot read the directory " + path +
                         ": No such file or directory (ENOENT)");
    }
    return it->second;
  }
};

}  // namespace hinetd::testing
