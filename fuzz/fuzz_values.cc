// The small value syntaxes of the services table and policies: durations,
// sizes, signals, listen addresses, CIDR blocks, actions and argument rules.
// The first byte picks the parser, the rest is the text. What parses must
// print back to something that parses to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/policy_file.h"
#include "config/units.h"
#include "net/acl.h"
#include "net/address.h"
#include "sandbox/arg_rules.h"

namespace {

void Check(bool ok) {
  if (!ok) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hinetd;
  if (size < 1) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 8) {
    case 0:
      if (auto d = config::ParseDuration(text); d.ok() && d->count() >= 0) {
        auto back = config::ParseDuration(config::FormatDuration(*d));
        Check(back.ok() && *back == *d);
      }
      break;
    case 1: (void)config::ParseSize(text); break;
    case 2: (void)config::ParseSignal(text); break;
    case 3:
    case 4: {
      auto transport = data[0] % 8 == 3 ? net::Transport::kTcp : net::Transport::kUdp;
      if (auto eps = net::ParseListen(text, transport); eps.ok()) {
        for (const auto& ep : *eps) {
          (void)net::ToString(ep);
          (void)net::Overlaps(ep, (*eps)[0]);
        }
      }
      break;
    }
    case 5:
      if (auto c = net::ParseCidr(text); c.ok()) {
        auto back = net::ParseCidr(c->ToString());
        Check(back.ok() && back->family == c->family && back->prefix == c->prefix &&
              back->addr == c->addr);
      }
      break;
    case 6: (void)config::ParseAction(std::string(text)); break;
    case 7: {
      // "syscall:condition"; the syscall decides the argument names.
      size_t colon = text.find(':');
      std::string syscall(colon == std::string_view::npos ? "socket" : text.substr(0, colon));
      std::string_view cond = colon == std::string_view::npos ? text : text.substr(colon + 1);
      if (auto alts = sandbox::ParseCondition(syscall, cond); alts.ok()) {
        for (const auto& a : *alts) (void)sandbox::ToString(syscall, a);
      }
      break;
    }
  }
  return 0;
}
