#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hinetd::base {

// "ENOENT" for ENOENT; "E<number>" for a value glibc has no name for.
[[nodiscard]] std::string ErrnoName(int err);

// Inverse of ErrnoName for the names glibc knows ("EACCES" -> 13).
[[nodiscard]] std::optional<int> ErrnoFromName(std::string_view name);

}  // namespace hinetd::base
