#pragma once

#include "cli/args.h"

namespace hinetd::cli {

// `hinetd check`: validate, print each service's plan, warn on weak
// sandboxes. Returns the exit code.
int RunCheck(const Args& args);

// `hinetd learn`: run one service recording its syscalls, or fold a log's
// trial lines, and write a policy. Returns the exit code.
int RunLearn(const Args& args);

// `hinetd audit`: score each service's exposure, compare with an older
// table, prove the claims with real children (--prove). Returns the exit code.
int RunAudit(const Args& args);
// `hinetd import`: convert inetd.conf or xinetd.conf into a services
// table. Returns the exit code.
int RunImport(const Args& args);

// `hinetd [-f]`: serve until stopped. Returns the exit code.
int RunServe(const Args& args);

}  // namespace hinetd::cli
