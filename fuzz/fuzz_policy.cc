// A policy file: any text as <sandbox_dir>/fuzzed.toml, loaded (includes of
// the shipped policies, and of itself, resolved) and, if it loads, compiled
// to BPF as the daemon does before it starts anything.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/policy_file.h"
#include "fake_system.h"
#include "sandbox/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static hinetd::fuzz::FakeSystem* system = new hinetd::fuzz::FakeSystem();
  system->SetPolicy("fuzzed", std::string(reinterpret_cast<const char*>(data), size));
  hinetd::config::PolicyLoader loader(hinetd::fuzz::kFakeSandboxDir, *system);
  auto spec = loader.Load("fuzzed", hinetd::base::SourceLoc{"fuzz", 1, 1});
  if (!spec.ok()) return 0;
  auto program = hinetd::sandbox::Compile(*spec);
  (void)program;
  return 0;
}
