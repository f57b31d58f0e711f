// The monitor (monitor.h): the listener's messages, each checked against
// the monitor's own table (requests.h) and answered in one place: a
// refusal, a started child, or the listener killed; and the end reports
// that go back to it.
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <variant>

#include "supervisor/monitor.h"
#include "supervisor/monitor_internal.h"

namespace hinetd::supervisor {

using base::Error;
using base::LogLine;

using namespace monitor_detail;

namespace {

// Room in the channel's queue beyond one end report per child: handover and
// status messages (one per SIGUSR1).
constexpr size_t kChannelSlack = 64;

// True if this process cannot take another descriptor now: then the kernel
// drops those of a message it receives (MSG_CTRUNC) whoever sent them.
bool OutOfDescriptors(int any_fd) {
  int probe = fcntl(any_fd, F_DUPFD_CLOEXEC, 0);
  if (probe >= 0) {
    close(probe);
    return false;
  }
  return errno == EMFILE || errno == ENFILE;
}

// std::visit over a message variant, one lambda per message.
template <typename... F>
struct Handlers : F... {
  using F::operator()...;
};
template <typename... F>
Handlers(F...) -> Handlers<F...>;

// What a request names, whatever its kind.
template <typename R>
RequestRef RefOf(const R& r) {
  RequestRef ref;
  ref.generation = r.generation;
  ref.service = r.service;
  if constexpr (requires { r.id; }) ref.id = r.id;
  if constexpr (requires { r.source; }) ref.source = r.source;
  return ref;
}

}  // namespace

void Monitor::OnControl(bool drain) {
  // The message is reused (no allocation per message); what a handler did
  // not take of its descriptors closes when this returns, on any path.
  struct CloseLeftovers {
    Channel::Received& msg;
    ~CloseLeftovers() { msg.fds.clear(); }
  } close_leftovers{control_msg_};
  for (int i = 0; (drain || i < 256) && channel_; ++i) {
    // Children that have executed since anyone looked give their slots
    // and status pipes back first (one read each, which their
    // confirmation costs anyway): a request never waits for a slot, and a
    // spawn never fails for descriptors, that only wait to be looked at
    // (see StartChild, monitor_children.cc).
    if (children_.AnyUnwatched()) LookAtSetups(/*watch=*/false);
    // Every slot taken by a child still setting up: the rest waits in the
    // channel (the listener stops accepting when its queue fills), unless
    // the channel must be emptied now (then the pool grows for it).
    if (!spawner_->HasFreeSlot() && !drain) return;
    // While memory is short the requests wait in the channel (see
    // OnOutOfMemory), unless it must be emptied now.
    if (memory_short_ && !drain) return;
    Channel::Received& msg = control_msg_;  // reused: no allocation per message
    auto status = channel_->Recv(msg);
    if (status == Channel::RecvStatus::kAgain) return;
    if (status == Channel::RecvStatus::kClosed) {
      if (options_.external_listener_fd >= 0) {
        BeginStop();
      } else {
        // The listener's end closed; its exit status comes with SIGCHLD.
        CloseChannel();
      }
      return;
    }
    // Descriptors the kernel dropped (more than a message carries, or none
    // could be installed here) cannot be counted: see OnDescriptorsLost.
    bool lost = msg.truncated && !msg.data_truncated;
    ListenerMessage decoded = DecodeFromListener(msg.data, lost ? kFdsLost : msg.fds.size());
    bool stop = false;
    std::visit(Handlers{
                   [&](const DecodeError& e) {
                     // The listener holds the same table and speaks the
                     // same protocol: a message it could not have made.
                     if (e.service && e.generation) {
                       RequestRef ref;
                       ref.service = *e.service;
                       ref.generation = *e.generation;
                       Forged(&ref, e.reason);
                     } else {
                       Forged(nullptr, e.reason);
                     }
                   },
                   [&](const StopMessage&) { stop = true; },
                   [&](const ReadyMessage&) { OnListenerReady(); },
                   [&](const StateMessage& state) { OnState(state.text, msg.data_truncated); },
                   [&](const auto& request) { OnRequest(request, msg, lost, drain); },
               },
               decoded);
    if (stop) return BeginStop();
    msg.fds.clear();  // what the handler did not take closes now (the message is reused)
  }
}

void Monitor::OnState(std::string_view state, bool cut) {
  if (!reload_) return;
  std::string text(state);
  if (cut) {
    // Many services: more than one message holds. What did arrive is
    // kept, whole lines only.
    text.erase(text.rfind('\n') + 1);
    log_.Warning(LogLine("warning").Add(
        "message", "the listener's state was too long; some services' counters restart"));
  }
  ApplySerializedState(text, services_, config_->services);
}

template <typename R>
void Monitor::OnRequest(const R& req, Channel::Received& msg, bool lost, bool grow) {
  // Every request but a socket replacement is answered: by a child's end
  // report, or a refusal's. A handler that answers (or starts a child, or
  // kills the listener) closes the request.
  constexpr bool kReplace = std::is_same_v<R, UdpReplaceSocketRequest>;
  request_open_ = !kReplace;
  RequestRef ref = RefOf(req);
  try {
    if (lost) return OnDescriptorsLost(ref, R::kFds == 2);
    if constexpr (std::is_same_v<R, ConnectionRequest>) OnConnection(req, msg, grow);
    if constexpr (std::is_same_v<R, UdpWaitStartRequest>) OnUdpWaitStart(req, msg, grow);
    if constexpr (std::is_same_v<R, UdpHandoverRequest>) OnUdpHandover(req, msg, grow);
    if constexpr (std::is_same_v<R, UdpLeftoverRequest>) OnUdpLeftover(req, msg, grow);
    if constexpr (kReplace) OnUdpReplaceSocket(req, msg);
  } catch (const std::bad_alloc&) {
    // Out of memory before its child started: still answered, so that the
    // listener's counts stay exact.
    msg.fds.clear();  // the connection closes now, not at the next message
    if (request_open_) {
      ++spawn_failures_;  // counted in the episode's spawn-recovered
      SendRefused(ref, Outcome::kRefused);
    }
    throw;  // Run() takes note
  }
}

void Monitor::OnDescriptorsLost(const RequestRef& req, bool swaps_socket) {
  (void)Answered(req, CheckDescriptorsLost(OutOfDescriptors(channel_->fd()), swaps_socket));
}

RequestView Monitor::View() const {
  return RequestView{
      .generation = generation_,
      .memory_short = memory_short_,
      .config = *config_,
      .sockets = sockets_,
      .by_service = sockets_by_service_,
      .reload_sockets = reload_ ? &reload_->sockets : nullptr,
      .children = children_.all(),
      .running = children_.running(),
      .served_ports = served_ports_,
      .leftovers = &leftovers_,
  };
}

bool Monitor::Answered(const RequestRef& req, const Verdict& v) {
  switch (v.kind) {
    case Verdict::Kind::kAdmit: return false;
    case Verdict::Kind::kDrop: request_open_ = false; return true;
    case Verdict::Kind::kRefuse: Refuse(req, v.reason, v.outcome); return true;
    case Verdict::Kind::kRefuseExhausted: RefuseExhausted(req, v.reason); return true;
    case Verdict::Kind::kForged: Forged(&req, v.reason); return true;
    case Verdict::Kind::kTablesDiffer:
      request_open_ = false;
      log_.Error(LogLine("refuse-request")
                     .Add("reason", v.reason)
                     .Add("service", static_cast<int64_t>(req.service))
                     .Add("generation", req.generation));
      KillListener(v.reason);
      return true;
  }
  return true;
}

void Monitor::Apply(const RequestRef& req, const Admission& a, int fd, bool grow,
                    base::UniqueFd* handed) {
  if (Answered(req, a.verdict)) return;
  spawn::Connection c;
  c.fd = fd;
  c.kind = a.kind;
  if (a.kind == spawn::Connection::Kind::kUnix) {
    c.cred = &a.cred;
    c.local = &a.from->ep;
    return StartChild(req, *a.svc, c, CredString(a.cred), *a.from, 0, grow);
  }
  c.peer = &a.peer;
  c.local = &a.local;
  StartChild(req, *a.svc, c, net::ToString(a.peer), *a.from, a.wait ? a.ino : 0, grow, handed,
             a.ino);
}

void Monitor::OnConnection(const ConnectionRequest& r, Channel::Received& msg, bool grow) {
  RequestRef req = RefOf(r);
  int conn = msg.fds[0].get();
  Apply(req, CheckConnection(req, conn, View()), conn, grow);
}

void Monitor::OnUdpWaitStart(const UdpWaitStartRequest& r, Channel::Received& msg, bool grow) {
  RequestRef req = RefOf(r);
  int sock = msg.fds[0].get();
  Apply(req, CheckUdpWaitStart(req, sock, View()), sock, grow);
}

void Monitor::OnUdpHandover(const UdpHandoverRequest& r, Channel::Received& msg, bool grow) {
  RequestRef req = RefOf(r);
  int conn = msg.fds[0].get();
  Admission swap = CheckUdpHandover(req, conn, msg.fds[1].get(), View());
  if (Answered(req, swap.verdict)) return;
  // Taken, not copied: nothing can fail between the check and the swap, so
  // the monitor's table never keeps the old, now connected, socket. Swapped
  // before the limits: the listener has swapped its own.
  swap.from->Replace(std::move(msg.fds[1]));  // the old socket goes to the child alone
  Apply(req, CheckHandedOver(conn, swap, View()), conn, grow, &msg.fds[0]);
}

void Monitor::OnUdpLeftover(const UdpLeftoverRequest& r, Channel::Received& msg, bool grow) {
  RequestRef req = RefOf(r);
  int sock = msg.fds[0].get();
  Admission a = CheckUdpLeftover(req, sock, View());
  // One child at a time on a socket: known again only if this one leaves
  // datagrams too.
  if (a.verdict.admitted()) leftovers_.Remove(a.ino);
  Apply(req, a, sock, grow, &msg.fds[0]);
}

void Monitor::OnUdpReplaceSocket(const UdpReplaceSocketRequest& r, Channel::Received& msg) {
  RequestRef req = RefOf(r);
  Admission a = CheckReplaceSocket(req, msg.fds[0].get(), msg.fds[1].get(), View());
  if (Answered(req, a.verdict)) return;
  a.from->Replace(std::move(msg.fds[1]));  // the broken one closes with the message
  request_open_ = false;  // a replacement has no end report
  log_.Warning(LogLine("socket-replaced")
                   .Add("service", a.svc->name)
                   .Add("listen", net::ToString(a.from->ep)));
}

size_t Monitor::ChannelLimit() const {
  // The listener counts a child until it reads its end report and sends
  // nothing while it counts max_children (a reload may leave it more, all
  // counted): that many reports can wait for it, never more.
  return std::max(static_cast<size_t>(config_->daemon.max_children), children_.size()) +
         kChannelSlack;
}

bool Monitor::MayLogRefusal() {
  if (refusal_log_.TryAcquire(Clock::now())) return true;
  ++refusals_unlogged_;
  return false;
}

void Monitor::SendToListener(const void* msg, size_t len) {
  FlushEnds();  // in order: the reports made before this message go first
  log_.Flush();  // and the lines logged before it (the listener may log in answer)
  SendNow(msg, len);
  ring_owed_ = true;  // a handover or status request: read at once
  RingListener();
}

void Monitor::RingListener() {
  if (!doorbell_ || !channel_) return;
  if (!ring_owed_ && !channel_->pending()) return;
  uint64_t one = 1;
  (void)!write(doorbell_.get(), &one, sizeof one);
  // What still waits here for room is rung for again once it is sent.
  ring_owed_ = channel_->pending();
}

void Monitor::SendNow(const void* msg, size_t len) {
  if (!channel_) return;
  if (channel_->Send(msg, len) || !channel_->over_limit()) return;  // sent, or the peer is gone
  KillListener("not reading its channel");
}

void Monitor::QueueEnd(const EndReport& end) {
  // No listener (it is being restarted): the next one counts the children
  // that are still running, so nothing is lost.
  if (!channel_) return;
  if (end_batch_.full()) FlushEnds();
  if (channel_) end_batch_.Add(end);
}

void Monitor::FlushEnds() {
  if (end_batch_.empty()) return;
  // The lines of these ends first: the listener may log in answer (a pause
  // after the tenth failure), and its line must come after theirs.
  log_.Flush();
  std::string_view batch = end_batch_.bytes();
  SendNow(batch.data(), batch.size());  // copied if it must wait
  ring_owed_ = ring_owed_ || end_batch_.urgent();
  end_batch_.Clear();
  RingListener();
}

void Monitor::Forged(const RequestRef* req, const std::string& reason) {
  request_open_ = false;  // no end report for a forgery: the listener goes
  // The listener holds the same table: a request it could not have made is
  // proof it is no longer the listener. No end report; it is killed.
  LogLine line("refuse-request");
  line.Add("reason", reason);
  if (req != nullptr) {
    line.Add("service", static_cast<int64_t>(req->service)).Add("generation", req->generation);
  }
  log_.Error(line);
  KillListener("forged request");
}

void Monitor::Refuse(const RequestRef& req, const std::string& reason, Outcome outcome) {
  // The end report keeps the listener's counts exact.
  if (MayLogRefusal()) {
    LogLine line("refuse-request");
    line.Add("reason", reason)
        .Add("service", static_cast<int64_t>(req.service))
        .Add("generation", req.generation);
    if (refusals_unlogged_ > 0) line.Add("suppressed", refusals_unlogged_);
    refusals_unlogged_ = 0;
    log_.Warning(line);
  }
  SendRefused(req, outcome);
}

void Monitor::RefuseExhausted(const RequestRef& req, const std::string& reason) {
  // A system limit: said once per episode, like spawn-failed (the same
  // count; the next spawn that succeeds ends it).
  if (spawn_failures_++ == 0) {
    log_.Error(LogLine("refuse-request")
                   .Add("reason", reason)
                   .Add("service", static_cast<int64_t>(req.service))
                   .Add("generation", req.generation));
  }
  SendRefused(req, Outcome::kRefused);
}

void Monitor::SendRefused(const RequestRef& req, Outcome outcome) {
  request_open_ = false;
  EndReport end;
  end.generation = generation_;
  if (req.service < config_->services.size() && req.generation == generation_) {
    end.service = req.service;
  }
  end.source = req.source;
  end.outcome = outcome;
  end.request = req.id;
  QueueEnd(end);
}

}  // namespace hinetd::supervisor
