// SHA-256 (FIPS 180-4), for content hashes that name things (a jail's
// tree); written from the standard, no library needed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hinetd::base {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // The digest as 64 lowercase hex digits; the object is spent afterwards.
  [[nodiscard]] std::string HexDigest();

 private:
  void Block(const unsigned char* p);

  uint32_t h_[8];
  unsigned char buf_[64];
  size_t used_ = 0;
  uint64_t total_ = 0;
};

}  // namespace hinetd::base
