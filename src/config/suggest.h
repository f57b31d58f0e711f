#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hinetd::config {

// The candidate closest to `word` by edit distance, if it is close enough to
// be a likely typo; empty otherwise.
[[nodiscard]] std::string ClosestMatch(std::string_view word,
                                       const std::vector<std::string>& candidates);

}  // namespace hinetd::config
