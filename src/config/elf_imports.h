// What a program's ELF file says it imports, for `hinetd check`'s advice:
// a program that calls syslog(3) and runs in a chroot without a syslog
// relay loses every message it logs.
#pragma once

#include <string>

namespace hinetd::config {

// True if the ELF file at `program`, resolved inside `root` (symlinks
// cannot leave it), is dynamically linked against one of syslog(3)'s entry
// points (openlog, syslog, vsyslog, __syslog_chk, __vsyslog_chk): an
// undefined symbol of its dynamic symbol table. False for anything else: a
// static binary, a script, a file that cannot be read or parsed.
[[nodiscard]] bool ImportsSyslog(const std::string& root, const std::string& program);

// The first of the calls that only a program that changes its own identity
// makes (setgroups, initgroups, chroot) that the program imports, found
// like ImportsSyslog; "" if none (or for what ImportsSyslog reads as
// false). The set*id calls are left out: shells import them to drop
// set-user-ID privileges they never have under hinetd.
[[nodiscard]] std::string ImportsIdentityChange(const std::string& root,
                                                const std::string& program);

}  // namespace hinetd::config
