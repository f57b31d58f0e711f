#include <stdio.h>

#include <string>
#include <vector>

#include "base/fs.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"

int main(int argc, char** argv) {
  using namespace hinetd::cli;
  // Where this program lives (for hinetd-internal next to it), before
  // anything can change the directory a relative start path is relative to.
  (void)hinetd::base::SelfExecutable();
  std::vector<std::string> words(argv, argv + argc);
  auto args = ParseArgs(words);
  if (!args.ok()) {
    fprintf(stderr, "hinetd: %s\n%s", args.error().message().c_str(), UsageText());
    return kExitUsage;
  }
  switch (args->command) {
    case Command::kHelp:
      fputs(UsageText(), stdout);
      return kExitOk;
    case Command::kVersion:
      printf("hinetd %s\n", HINETD_VERSION);
      return kExitOk;
    case Command::kCheck:
      return RunCheck(*args);
    case Command::kLearn:
      return RunLearn(*args);
    case Command::kAudit:
      return RunAudit(*args);
    case Command::kImport:
      return RunImport(*args);
    case Command::kServe:
      return RunServe(*args);
  }
  return kExitUsage;
}
