// Throwaway host accounts for tests that need a real second user or the
// account a tool tells its user to create: removed (with their group) when
// the object goes.
#pragma once

#include <string>
#include <vector>

#include "common/process.h"

namespace hinetd::testing {

class Accounts {
 public:
  Accounts() = default;
  Accounts(const Accounts&) = delete;
  Accounts& operator=(const Accounts&) = delete;
  ~Accounts() {
    for (const auto& name : names_) {
      RunCommand({"/usr/sbin/userdel", name}, milliseconds(30000));
      RunCommand({"/usr/sbin/groupdel", name}, milliseconds(30000));
    }
  }
  // useradd --system --no-create-home --shell /usr/sbin/nologin with
  // `extra` options; false if it failed.
  bool Add(const std::string& name, const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {"/usr/sbin/useradd", "--system", "--no-create-home",
                                     "--shell", "/usr/sbin/nologin"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(name);
    return Run(name, argv);
  }
  // Creates `name` with the command `argv` (useradd ...); false if it failed.
  bool Run(const std::string& name, const std::vector<std::string>& argv) {
    RunCommand({"/usr/sbin/userdel", name}, milliseconds(30000));  // a leftover of a crash
    RunCommand({"/usr/sbin/groupdel", name}, milliseconds(30000));
    CommandResult r = RunCommand(argv, milliseconds(30000));
    if (r.exit_code != 0) return false;
    names_.push_back(name);
    return true;
  }

 private:
  std::vector<std::string> names_;
};

}  // namespace hinetd::testing
