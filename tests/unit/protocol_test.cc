// The control channel's wire format, decoded by the pure functions the
// monitor and the listener use (protocol.h). A compromised listener is an
// attacker: every malformed message is refused with the reason the monitor
// logs, and nothing else gets through.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>

#include <cstring>
#include <string>
#include <variant>

#include "supervisor/protocol.h"

namespace hinetd::supervisor {
namespace {

template <typename M>
std::string Wire(const M& m) {
  return std::string(Bytes(m));
}

// The reason DecodeFromListener gives, or "" if it decoded.
std::string Refusal(const std::string& bytes, size_t nfds) {
  auto m = DecodeFromListener(bytes, nfds);
  if (const auto* e = std::get_if<DecodeError>(&m)) {
    EXPECT_FALSE(e->detail.empty()) << e->reason;
    return e->reason;
  }
  return "";
}

std::string MonitorRefusal(const std::string& bytes, size_t nfds) {
  auto m = DecodeFromMonitor(bytes, nfds);
  if (const auto* e = std::get_if<DecodeError>(&m)) return e->reason;
  return "";
}

TEST(Protocol, EveryRequestDecodesToItsOwnTypeWithItsFields) {
  ConnectionRequest conn;
  conn.id = 7;
  conn.generation = 3;
  conn.service = 2;
  conn.source.len = 4;
  std::memcpy(conn.source.bytes, "\x7f\0\0\x01", 4);
  auto m = DecodeFromListener(Wire(conn), 1);
  const auto* c = std::get_if<ConnectionRequest>(&m);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->id, 7u);
  EXPECT_EQ(c->generation, 3u);
  EXPECT_EQ(c->service, 2u);
  EXPECT_EQ(c->source.str(), std::string("\x7f\0\0\x01", 4));

  UdpWaitStartRequest wait;
  wait.id = 8;
  EXPECT_TRUE(std::holds_alternative<UdpWaitStartRequest>(DecodeFromListener(Wire(wait), 1)));
  UdpHandoverRequest handover;
  EXPECT_TRUE(std::holds_alternative<UdpHandoverRequest>(DecodeFromListener(Wire(handover), 2)));
  UdpLeftoverRequest leftover;
  leftover.id = 9;
  auto l = DecodeFromListener(Wire(leftover), 1);
  ASSERT_TRUE(std::holds_alternative<UdpLeftoverRequest>(l));
  EXPECT_EQ(std::get<UdpLeftoverRequest>(l).id, 9u);
  UdpReplaceSocketRequest replace;
  replace.service = 5;
  auto r = DecodeFromListener(Wire(replace), 2);
  ASSERT_TRUE(std::holds_alternative<UdpReplaceSocketRequest>(r));
  EXPECT_EQ(std::get<UdpReplaceSocketRequest>(r).service, 5u);
  EXPECT_TRUE(std::holds_alternative<StopMessage>(DecodeFromListener(Wire(StopMessage{}), 0)));
  EXPECT_TRUE(std::holds_alternative<ReadyMessage>(DecodeFromListener(Wire(ReadyMessage{}), 0)));
  MsgHeader state{kMagic, MsgType::kState};
  std::string state_wire = Wire(state) + "echo 1 2\n";  // the text points into it
  auto s = DecodeFromListener(state_wire, 0);
  ASSERT_TRUE(std::holds_alternative<StateMessage>(s));
  EXPECT_EQ(std::get<StateMessage>(s).text, "echo 1 2\n");
}

TEST(Protocol, GarbageAndForeignHeadersAreMalformedOrUnexpected) {
  EXPECT_EQ(Refusal("", 0), "malformed message");
  EXPECT_EQ(Refusal("abc", 0), "malformed message");
  EXPECT_EQ(Refusal("not a message", 0), "malformed message");  // wrong magic
  MsgHeader h{kMagic, static_cast<MsgType>(0)};
  EXPECT_EQ(Refusal(Wire(h), 0), "unexpected message");
  h.type = static_cast<MsgType>(99);
  EXPECT_EQ(Refusal(Wire(h) + std::string(56, '\0'), 1), "unexpected message");
  // The monitor's own messages, coming from the listener.
  EXPECT_EQ(Refusal(Wire(HandoverMessage{}), 0), "unexpected message");
  EXPECT_EQ(Refusal(Wire(StatusMessage{}), 0), "unexpected message");
  EndBatchBuilder batch;
  batch.Add(EndReport{});
  EXPECT_EQ(Refusal(std::string(batch.bytes()), 0), "unexpected message");
  // And the listener's, coming from the monitor.
  EXPECT_EQ(MonitorRefusal(Wire(ConnectionRequest{}), 0), "unexpected message");
  EXPECT_EQ(MonitorRefusal("garbage!", 0), "malformed message");
}

// Every request type, at every size but its own, and with every
// descriptor count but its own.
template <typename R>
void ExpectExactSizeAndCount() {
  SCOPED_TRACE(static_cast<int>(R::kType));
  R req;
  req.service = 1;
  req.generation = 9;
  std::string wire = Wire(req);
  EXPECT_EQ(Refusal(wire, R::kFds), "");
  for (size_t len = sizeof(MsgHeader); len < sizeof(R) + 16; ++len) {
    if (len == sizeof(R)) continue;
    std::string cut = wire.substr(0, std::min(len, wire.size()));
    cut.resize(len, '\0');
    EXPECT_EQ(Refusal(cut, R::kFds), "malformed spawn request") << len;
  }
  for (size_t n = 0; n < R::kFds; ++n) EXPECT_EQ(Refusal(wire, n), "missing descriptor") << n;
  for (size_t n = R::kFds + 1; n <= 3; ++n) {
    EXPECT_EQ(Refusal(wire, n), "too many descriptors") << n;
  }
  // Lost descriptors: everything else is checked; the handler judges.
  EXPECT_EQ(Refusal(wire, kFdsLost), "");
  // An error past the fixed fields names the request's service.
  auto m = DecodeFromListener(wire, R::kFds + 1);
  const auto* e = std::get_if<DecodeError>(&m);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->service.value_or(0), 1u);
  EXPECT_EQ(e->generation.value_or(0), 9u);
  // A reserved byte set.
  req.reserved[0] = 1;
  EXPECT_EQ(Refusal(Wire(req), R::kFds), "malformed spawn request");
}

TEST(Protocol, EveryRequestHasOneSizeAndOneDescriptorCount) {
  ExpectExactSizeAndCount<ConnectionRequest>();
  ExpectExactSizeAndCount<UdpHandoverRequest>();
  ExpectExactSizeAndCount<UdpLeftoverRequest>();
  // The ones whose reserved field is one word.
  for (auto type : {MsgType::kUdpWaitStart, MsgType::kUdpReplaceSocket}) {
    SCOPED_TRACE(static_cast<int>(type));
    std::string wire = type == MsgType::kUdpWaitStart ? Wire(UdpWaitStartRequest{})
                                                      : Wire(UdpReplaceSocketRequest{});
    size_t fds = type == MsgType::kUdpWaitStart ? 1 : 2;
    EXPECT_EQ(Refusal(wire, fds), "");
    EXPECT_EQ(Refusal(wire.substr(0, wire.size() - 1), fds), "malformed spawn request");
    EXPECT_EQ(Refusal(wire + "x", fds), "malformed spawn request");
    EXPECT_EQ(Refusal(wire, fds - 1), "missing descriptor");
    EXPECT_EQ(Refusal(wire, fds + 1), "too many descriptors");
    wire[wire.size() - 1] = 1;  // the reserved word, last
    EXPECT_EQ(Refusal(wire, fds), "malformed spawn request");
  }
}

TEST(Protocol, MessagesWithoutFieldsHaveOneSizeAndNoDescriptors) {
  for (std::string wire : {Wire(StopMessage{}), Wire(ReadyMessage{})}) {
    EXPECT_EQ(Refusal(wire, 0), "");
    EXPECT_EQ(Refusal(wire + "x", 0), "malformed message");
    EXPECT_EQ(Refusal(wire, 1), "unexpected descriptors");
    EXPECT_EQ(Refusal(wire, kFdsLost), "unexpected descriptors");
  }
  MsgHeader state{kMagic, MsgType::kState};
  EXPECT_EQ(Refusal(Wire(state), 1), "unexpected descriptors");
  for (std::string wire : {Wire(HandoverMessage{}), Wire(StatusMessage{})}) {
    EXPECT_EQ(MonitorRefusal(wire, 0), "");
    EXPECT_EQ(MonitorRefusal(wire + "x", 0), "malformed message");
    EXPECT_EQ(MonitorRefusal(wire, 1), "unexpected descriptors");
  }
}

TEST(Protocol, ASourceKeyLongerThanItsBytesIsMalformed) {
  ConnectionRequest req;
  req.source.len = 32;
  EXPECT_EQ(Refusal(Wire(req), 1), "");
  req.source.len = 33;
  EXPECT_EQ(Refusal(Wire(req), 1), "malformed spawn request");
  UdpHandoverRequest handover;
  handover.source.len = 255;
  EXPECT_EQ(Refusal(Wire(handover), 2), "malformed spawn request");
}

TEST(Protocol, OnlyACleanExitOfAChildWithoutAWaitSocketWaitsForTheListenersNextClient) {
  auto report = [](Outcome outcome, int status, uint32_t wait = 0) {
    EndReport r;
    r.outcome = outcome;
    r.status = status;
    r.wait = wait;
    return r;
  };
  constexpr int kExit0 = 0;         // a wait status: exited, 0
  constexpr int kExit1 = 1 << 8;    // exited, 1
  constexpr int kKilled = SIGKILL;  // killed by a signal
  EXPECT_FALSE(ListenerNeedsAtOnce(report(Outcome::kExited, kExit0)));
  EXPECT_TRUE(ListenerNeedsAtOnce(report(Outcome::kExited, kExit1))) << "a failure: loop protection";
  EXPECT_TRUE(ListenerNeedsAtOnce(report(Outcome::kExited, kKilled)));
  EXPECT_TRUE(ListenerNeedsAtOnce(report(Outcome::kExited, kExit0, 1))) << "its socket comes back";
  EndReport left = report(Outcome::kExited, kExit0);
  left.leftover = 1;
  EXPECT_TRUE(ListenerNeedsAtOnce(left)) << "datagrams wait for their child";
  for (Outcome o : {Outcome::kSetupFailed, Outcome::kSpawnFailed, Outcome::kRefused,
                    Outcome::kTimedOut, Outcome::kClosed, Outcome::kReplaced}) {
    EXPECT_TRUE(ListenerNeedsAtOnce(report(o, kExit0))) << static_cast<int>(o);
  }
  // A batch is rung for if any of its reports is.
  EndBatchBuilder batch;
  batch.Add(report(Outcome::kExited, kExit0));
  EXPECT_FALSE(batch.urgent());
  batch.Add(report(Outcome::kSetupFailed, kExit0));
  batch.Add(report(Outcome::kExited, kExit0));
  EXPECT_TRUE(batch.urgent());
  batch.Clear();
  EXPECT_FALSE(batch.urgent()) << "a new batch starts clean";
}

TEST(Protocol, AnEndBatchCarriesItsReportsByIndex) {
  EndBatchBuilder builder;
  EXPECT_TRUE(builder.empty());
  for (uint32_t i = 0; i < kMaxEndBatch; ++i) {
    EndReport r;
    r.generation = 4;
    r.service = i;
    r.outcome = Outcome::kExited;
    r.request = 1000 + i;
    if (i == 3) {
      r.wait = 1;
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      std::memcpy(&r.wait_ep, &sin, sizeof sin);
      r.wait_ep_len = sizeof sin;
    }
    ASSERT_TRUE(builder.Add(r));
  }
  EXPECT_TRUE(builder.full());
  EXPECT_FALSE(builder.Add(EndReport{}));
  std::string wire(builder.bytes());
  EXPECT_EQ(wire.size(), sizeof(EndBatchHeader) + kMaxEndBatch * sizeof(EndReport));
  auto m = DecodeFromMonitor(wire, 0);
  const auto* batch = std::get_if<EndBatch>(&m);
  ASSERT_NE(batch, nullptr);
  ASSERT_EQ(batch->size(), kMaxEndBatch);
  for (uint32_t i = 0; i < kMaxEndBatch; ++i) {
    EXPECT_EQ((*batch)[i].service, i);
    EXPECT_EQ((*batch)[i].request, 1000u + i);
    EXPECT_EQ((*batch)[i].generation, 4u);
  }
  EXPECT_EQ((*batch)[3].wait, 1u);
  builder.Clear();
  EXPECT_TRUE(builder.empty());
  EXPECT_EQ(builder.bytes().size(), sizeof(EndBatchHeader));
}

TEST(Protocol, AMalformedEndBatchIsRefused) {
  EndBatchBuilder builder;
  builder.Add(EndReport{});
  builder.Add(EndReport{});
  std::string good(builder.bytes());
  EXPECT_EQ(MonitorRefusal(good, 0), "");
  EXPECT_EQ(MonitorRefusal(good, 1), "unexpected descriptors");
  // Cut anywhere, or one byte long.
  for (size_t len = sizeof(MsgHeader); len < good.size(); len += 7) {
    EXPECT_EQ(MonitorRefusal(good.substr(0, len), 0), "malformed message") << len;
  }
  EXPECT_EQ(MonitorRefusal(good + "x", 0), "malformed message");
  // A count of none, or of more than a batch holds (with the bytes).
  auto with_count = [&](uint32_t count) {
    std::string w = good;
    w.resize(sizeof(EndBatchHeader) + count * sizeof(EndReport), '\0');
    std::memcpy(w.data() + sizeof(MsgHeader), &count, sizeof count);
    return w;
  };
  EXPECT_EQ(MonitorRefusal(with_count(0), 0), "malformed message");
  EXPECT_EQ(MonitorRefusal(with_count(kMaxEndBatch + 1), 0), "malformed message");
  // Each field out of its range, in the second report.
  auto with_report = [&](const EndReport& r) {
    EndBatchBuilder b;
    b.Add(EndReport{});
    b.Add(r);
    return std::string(b.bytes());
  };
  EndReport bad;
  bad.outcome = static_cast<Outcome>(0);
  EXPECT_EQ(MonitorRefusal(with_report(bad), 0), "malformed message");
  bad = EndReport{};
  bad.outcome = static_cast<Outcome>(kMaxOutcome + 1);
  EXPECT_EQ(MonitorRefusal(with_report(bad), 0), "malformed message");
  bad = EndReport{};
  bad.wait = 2;
  EXPECT_EQ(MonitorRefusal(with_report(bad), 0), "malformed message");
  bad = EndReport{};
  bad.wait = 1;
  bad.wait_ep_len = sizeof bad.wait_ep + 1;
  EXPECT_EQ(MonitorRefusal(with_report(bad), 0), "malformed message");
  bad = EndReport{};
  bad.wait_ep_len = 16;  // an address without a wait child
  EXPECT_EQ(MonitorRefusal(with_report(bad), 0), "malformed message");
  bad = EndReport{};
  bad.source.len = 33;
  EXPECT_EQ(MonitorRefusal(with_report(bad), 0), "malformed message");
  bad = EndReport{};
  bad.reserved[1] = 1;
  EXPECT_EQ(MonitorRefusal(with_report(bad), 0), "malformed message");
  // Datagrams left: 0 or 1, and never on a wait child's socket (that one
  // comes back to the listener whole).
  bad = EndReport{};
  bad.leftover = 1;
  EXPECT_EQ(MonitorRefusal(with_report(bad), 0), "");
  bad.leftover = 2;
  EXPECT_EQ(MonitorRefusal(with_report(bad), 0), "malformed message");
  bad.leftover = 1;
  bad.wait = 1;
  EXPECT_EQ(MonitorRefusal(with_report(bad), 0), "malformed message");
}

TEST(Protocol, EveryTruncationOfEveryMessageIsRefusedNotMisread) {
  EndBatchBuilder batch;
  batch.Add(EndReport{});
  for (std::string wire :
       {Wire(ConnectionRequest{}), Wire(UdpWaitStartRequest{}), Wire(UdpHandoverRequest{}),
        Wire(UdpLeftoverRequest{}), Wire(UdpReplaceSocketRequest{}), Wire(StopMessage{}),
        Wire(ReadyMessage{})}) {
    for (size_t len = 0; len < wire.size(); ++len) {
      EXPECT_NE(Refusal(wire.substr(0, len), 1), "") << len;
      EXPECT_NE(Refusal(wire.substr(0, len), 2), "") << len;
    }
  }
  std::string end(batch.bytes());
  for (size_t len = 0; len < end.size(); ++len) {
    EXPECT_NE(MonitorRefusal(end.substr(0, len), 0), "") << len;
  }
}

}  // namespace
}  // namespace hinetd::supervisor
