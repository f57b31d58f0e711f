// What the monitor reads from the listener, which it does not trust (a
// compromised listener is an attacker): a message through a real
// SOCK_SEQPACKET channel (Channel::Recv, with 0 to 3 descriptors attached),
// then decoded as the monitor's OnControl does, by DecodeFromListener (every
// request type, its size, descriptors and fields), and the STATE text of a
// reload (ApplySerializedState, into states with rates, pauses and streaks);
// the same bytes through DecodeFromMonitor, as the listener reads an end
// batch.
//
// Input: byte 0 = descriptors to attach (low 2 bits) and whether the
// message arrives truncated; the rest is the message.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <variant>
#include <vector>

#include "supervisor/protocol.h"
#include "supervisor/service_state.h"

namespace {

using namespace hinetd;
using namespace hinetd::supervisor;

std::vector<config::Service> Services() {
  std::vector<config::Service> services(3);
  services[0].name = "echo";
  services[0].backoff = std::chrono::milliseconds(10'000);
  services[0].rate = config::Service::Rate{5, std::chrono::milliseconds(1000)};
  services[1].name = "daytime";
  services[1].backoff = std::chrono::milliseconds(2'000);
  services[2].name = "upper";
  services[2].backoff = std::chrono::milliseconds(0);
  services[2].rate = config::Service::Rate{1000000, std::chrono::milliseconds(1)};
  return services;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const std::vector<config::Service> services = Services();
  static auto pair = ControlPair();
  static int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (!pair.ok() || null_fd < 0) abort();
  static Channel listener(std::move(pair->first));
  static Channel monitor(std::move(pair->second));

  size_t nfds = data[0] & 3;
  std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (nfds > 2) {
    // More descriptors than a message may carry: Send refuses; the monitor
    // never sees it.
    if (listener.Send(body.data(), body.size(), {null_fd, null_fd, null_fd})) abort();
    return 0;
  }
  std::vector<int> fds(nfds, null_fd);
  if (body.empty() && fds.empty()) return 0;  // a zero-length message reads as closed
  if (!listener.Send(body.data(), body.size(), fds)) abort();
  Channel::Received msg;
  if (monitor.Recv(msg) != Channel::RecvStatus::kMessage) abort();
  if (msg.data != body || msg.fds.size() != nfds || msg.truncated) abort();
  bool truncated = (data[0] & 4) != 0;

  // The monitor's decoding (Monitor::OnControl): the same pure function.
  bool lost = msg.truncated && !msg.data_truncated;
  ListenerMessage decoded = DecodeFromListener(msg.data, lost ? kFdsLost : msg.fds.size());
  if (const auto* e = std::get_if<DecodeError>(&decoded)) {
    if (e->reason.empty() || e->detail.empty()) abort();  // every refusal says why
  } else if (const auto* c = std::get_if<ConnectionRequest>(&decoded)) {
    // What passed is what was sent, in range.
    if (c->source.len > sizeof c->source.bytes || nfds != ConnectionRequest::kFds) abort();
    (void)c->source.str();
  } else if (const auto* h = std::get_if<UdpHandoverRequest>(&decoded)) {
    if (h->source.len > sizeof h->source.bytes || nfds != UdpHandoverRequest::kFds) abort();
  } else if (const auto* l = std::get_if<UdpLeftoverRequest>(&decoded)) {
    if (l->source.len > sizeof l->source.bytes || nfds != UdpLeftoverRequest::kFds) abort();
  } else if (std::holds_alternative<UdpWaitStartRequest>(decoded)) {
    if (nfds != UdpWaitStartRequest::kFds) abort();
  } else if (std::holds_alternative<UdpReplaceSocketRequest>(decoded)) {
    if (nfds != UdpReplaceSocketRequest::kFds) abort();
  } else if (const auto* st = std::get_if<StateMessage>(&decoded)) {
    if (nfds != 0) abort();
    static ServiceStates states = CarryOver({}, services);
    std::string text(st->text);
    if (truncated) text.erase(text.rfind('\n') + 1);
    ApplySerializedState(text, states, services);
    // What came in is bounded, whatever was sent.
    auto now = Clock::now();
    for (const auto& s : states) {
      if (s->accepted > kMaxStateCounter || s->timeouts > kMaxStateCounter) abort();
      if (s->paused_at > now + std::chrono::seconds(1)) abort();
      if (s->paused_until > now + std::chrono::seconds(11)) abort();
      if (s->rate && (s->rate->tokens(now) < 0 || s->rate->tokens(now) > 1e6 + 1)) abort();
    }
    (void)SerializeState(states);
  } else if (nfds != 0) {
    abort();  // stop, ready: no descriptors
  }
  // The listener's decoding of the same bytes (what a monitor sends): every
  // report of a batch in range.
  MonitorMessage reply = DecodeFromMonitor(msg.data, msg.fds.size());
  if (const auto* batch = std::get_if<EndBatch>(&reply)) {
    if (batch->size() == 0 || batch->size() > kMaxEndBatch) abort();
    for (size_t i = 0; i < batch->size(); ++i) {
      EndReport r = (*batch)[i];
      if (r.source.len > sizeof r.source.bytes || r.wait_ep_len > sizeof r.wait_ep) abort();
      if (r.leftover > 1 || (r.leftover != 0 && r.wait != 0)) abort();
    }
  }
  return 0;
}
