// A well-formed UTF-8 check for tests, written apart from the daemon's
// escaping (src/base/log.cc): decode by the lead byte's form, then reject
// overlong forms, surrogates and code points past U+10FFFF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace hinetd::testing {

// The offset of the first byte of `s` that is not part of well-formed
// UTF-8, or npos.
inline size_t FirstInvalidUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return i;
    uint32_t cp = len == 1 ? c : c & (0x7fu >> len);
    for (size_t k = 1; k < len; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (b & 0x3fu);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return i;
    i += len;
  }
  return std::string::npos;
}

}  // namespace hinetd::testing
