#pragma once

namespace hinetd::cli {

// sysexits(3) values, as DESIGN.md §5 lists them.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFinding = 1;  // audit: over the threshold, worse, contradicted
inline constexpr int kExitUsage = 64;     // EX_USAGE
inline constexpr int kExitDataErr = 65;   // EX_DATAERR: import: the input is not valid
inline constexpr int kExitNoInput = 66;   // EX_NOINPUT: import: the input cannot be read
inline constexpr int kExitSystem = 71;    // EX_OSERR: could not start
inline constexpr int kExitNoPerm = 77;   // EX_NOPERM: audit --prove not run as root
inline constexpr int kExitCantCreate = 73;  // EX_CANTCREAT: import: OUT exists or cannot be written
inline constexpr int kExitConfig = 78;    // EX_CONFIG

}  // namespace hinetd::cli
