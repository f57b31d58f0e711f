// The services table: any text -> LoadConfigText, against a fake system
// (fake_system.h), the shipped policies available to its services.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.h"
#include "fake_system.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const hinetd::fuzz::FakeSystem system;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = hinetd::config::LoadConfigText(
      text, std::string(hinetd::fuzz::kFakeDir) + "/hinetd.toml", system);
  if (!config.ok()) {
    // Every refusal says where: a position in a file.
    (void)config.error().ToString();
  }
  return 0;
}
