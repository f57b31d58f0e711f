#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "config/types.h"

namespace hinetd::config {

// "30s", "500ms", "5m", "2h"; a bare integer (given as int64) is seconds.
[[nodiscard]] base::Result<Millis> ParseDuration(std::string_view text);
// The shortest exact spelling ParseDuration reads back: "10s", "500ms", "5m".
[[nodiscard]] std::string FormatDuration(Millis d);
// "256M", "1G", "64K", "1024"; a bare integer is bytes. Powers of 1024.
[[nodiscard]] base::Result<uint64_t> ParseSize(std::string_view text);
// "TERM", "SIGTERM", "KILL", ... -> signal number.
[[nodiscard]] base::Result<int> ParseSignal(std::string_view text);

}  // namespace hinetd::config
