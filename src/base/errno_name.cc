#include "base/errno_name.h"

#include <string.h>

#include "base/result.h"

namespace hinetd::base {

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
  return "E" + std::to_string(err);
}

std::optional<int> ErrnoFromName(std::string_view name) {
  // errno values are small and dense on Linux (1..133); scanning them once
  // at config load is simpler than keeping a second table in sync.
  for (int err = 1; err < 4096; ++err) {
    const char* candidate = strerrorname_np(err);
    if (candidate != nullptr && name == candidate) return err;
  }
  return std::nullopt;
}

std::string SourceLoc::ToString() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string Error::ToString() const {
  if (!loc_.known()) return message_;
  return loc_.ToString() + ": " + message_;
}

Error ErrnoError(const std::string& what, int err) {
  return Error(what + ": " + strerror(err) + " (" + ErrnoName(err) + ")");
}

}  // namespace hinetd::base
