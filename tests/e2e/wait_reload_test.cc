// A reload reaches a running udp wait child (issue 13): after a SIGHUP that
// changes the service's plan, hinetd ends the stale child at its next idle
// moment (blocked in recvfrom on the service socket, nothing queued, nothing
// of it still working), and no datagram is lost; a busy child is left
// alone until it is idle; an unchanged plan keeps its child.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "e2e/e2e.h"

namespace hinetd::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kMarkerPolicy = R"(description = "hinetd-udp-marker: answers datagrams"
include = ["runtime"]
allow = ["recvfrom", "sendto", "clock_nanosleep", "nanosleep",
  # fork:MS starts a process that outlives the request (a transfer)
  "clone", "clone3", "fork", "vfork"]
)";

// Marker of a reply "MARKER PID PAYLOAD".
std::string MarkerOf(const std::string& reply) { return reply.substr(0, reply.find(' ')); }

class WaitReloadTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(jail_.Install(BinDir() + "/hinetd-udp-marker", "/marker"));
    dir_.Write("sandbox/marker.toml", kMarkerPolicy);
    port_ = FreeUdpPort();
    ASSERT_NE(port_, 0);
  }

  // The services table: the marker service answering with `marker`, and
  // `extra` services after it.
  std::string Config(const std::string& marker, const std::string& extra = "") {
    return WriteConfig("[[service]]\nname = \"marker\"\nlisten = \"127.0.0.1:" +
                       std::to_string(port_) +
                       "\"\nprotocol = \"udp\"\nwait = true\nexec = [\"/marker\", \"" + marker +
                       "\"]\nuser = \"nobody\"\nchroot = \"" + jail_.path() +
                       "\"\nsandbox = \"marker\"\n\n" + extra);
  }

  // The pid of the nth child the marker service started (event=accept).
  pid_t AcceptedPid(size_t nth) {
    if (!daemon_.WaitForCount({"event=accept", "service=marker"}, nth, milliseconds(10000))) {
      return -1;
    }
    size_t seen = 0;
    for (const auto& l : daemon_.Lines()) {
      if (l.rfind("event=accept", 0) == 0 && l.find("service=marker") != std::string::npos &&
          ++seen == nth) {
        return std::stoi(LogField(l, "pid"));
      }
    }
    return -1;
  }

  // Reloads and waits for generation `gen` to be installed.
  void Reload(int gen) {
    daemon_.Signal(SIGHUP);
    ASSERT_TRUE(daemon_.WaitForLine({"event=reload", "generation=" + std::to_string(gen)},
                                    milliseconds(10000)))
        << daemon_.LogText();
  }

  std::string Ask(int fd, const std::string& data, milliseconds timeout = milliseconds(5000)) {
    if (!SendTo(fd, "127.0.0.1", port_, data)) return "<send failed>";
    return RecvDatagram(fd, timeout).value_or("<none>");
  }

  // Asks until the answer comes from `marker` (a stale child may still
  // answer until it is idle and stopped), at most `tries` times; every
  // datagram must be answered, each once.
  bool AskUntilMarker(int fd, const std::string& marker, int tries) {
    for (int i = 0; i < tries; ++i) {
      std::string payload = "until-" + std::to_string(i);
      std::string reply = Ask(fd, payload);
      EXPECT_NE(reply, "<none>") << "no answer to " << payload << "\n" << daemon_.LogText();
      if (reply == "<none>") return false;
      EXPECT_EQ(reply.substr(reply.rfind(' ') + 1), payload);
      if (reply.rfind(marker + " ", 0) == 0) return true;
      std::this_thread::sleep_for(milliseconds(50));  // the pace of a client
    }
    return false;
  }

  // Starts hinetd with the marker "old" and its first child: `fd` is a
  // client socket that got its answer, `pid` that child.
  void StartOld(int& fd, pid_t& pid) {
    ASSERT_TRUE(daemon_.StartAndWait(Config("old"))) << daemon_.LogText();
    fd = UdpSocket();
    ASSERT_GE(fd, 0);
    ASSERT_EQ(MarkerOf(Ask(fd, "first")), "old");
    pid = AcceptedPid(1);
    ASSERT_GT(pid, 0);
  }

  static bool Alive(pid_t pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

  uint16_t port_ = 0;
};

TEST_F(WaitReloadTest, StaleChildIsReplacedWhenIdleAndNoDatagramIsLost) {
  int fd = -1;
  pid_t old_pid = -1;
  ASSERT_NO_FATAL_FAILURE(StartOld(fd, old_pid));

  // A client sending at a steady pace (one datagram every 10 ms) before,
  // during and after the reload, collecting every answer.
  constexpr auto kPace = milliseconds(10);
  constexpr int kBefore = 30;     // datagrams before the SIGHUP
  constexpr int kAfterNew = 50;   // datagrams after the first new answer
  // 40 s: the switch must come before. The child reads a datagram every
  // 10 ms, so the idle check may need several tries (on a loaded host,
  // seconds).
  constexpr int kMaxSent = 4000;
  std::map<int, std::vector<std::string>> answers;  // seq -> markers
  int sent = 0;
  int first_new_seq = -1;
  // Collects answers until `until`.
  auto drain = [&](Clock::time_point until) {
    for (;;) {
      auto now = Clock::now();
      auto wait = now < until ? std::chrono::duration_cast<milliseconds>(until - now)
                              : milliseconds(0);
      auto got = RecvDatagram(fd, wait);
      if (!got) return;
      // "MARKER PID seq-N"
      size_t at = got->rfind("seq-");
      if (at == std::string::npos) {
        ADD_FAILURE() << "unexpected answer " << *got;
        continue;
      }
      int seq = std::stoi(got->substr(at + 4));
      std::string marker = MarkerOf(*got);
      answers[seq].push_back(marker);
      if (marker == "new" && (first_new_seq < 0 || seq < first_new_seq)) first_new_seq = seq;
    }
  };
  auto next = Clock::now();
  bool reloaded = false;
  while (sent < kMaxSent && (first_new_seq < 0 || sent < first_new_seq + kAfterNew)) {
    if (sent == kBefore && !reloaded) {
      Config("new");  // the same file, another argument: a changed plan
      daemon_.Signal(SIGHUP);
      reloaded = true;
    }
    ASSERT_TRUE(SendTo(fd, "127.0.0.1", port_, "seq-" + std::to_string(sent)));
    ++sent;
    next += kPace;
    drain(next);
  }
  drain(Clock::now() + milliseconds(3000));  // the last answers
  ASSERT_GE(first_new_seq, 0) << "the new plan never answered\n" << daemon_.LogText();

  // Every datagram answered exactly once; old answers, then new ones only.
  for (int seq = 0; seq < sent; ++seq) {
    auto it = answers.find(seq);
    ASSERT_TRUE(it != answers.end()) << "datagram seq-" << seq << " was lost\n"
                                     << daemon_.LogText();
    ASSERT_EQ(it->second.size(), 1u) << "seq-" << seq << " answered twice";
    EXPECT_EQ(it->second[0], seq < first_new_seq ? "old" : "new") << "seq-" << seq;
  }
  EXPECT_EQ(answers.size(), static_cast<size_t>(sent));

  // The stale child was ended by the idle check (one line), and is gone.
  auto stopped = daemon_.WaitForLine(
      {"event=stale-stop", "service=marker", "pid=" + std::to_string(old_pid)},
      milliseconds(5000));
  ASSERT_TRUE(stopped) << daemon_.LogText();
  EXPECT_EQ(LogField(*stopped, "idle"), "recvfrom") << *stopped;
  EXPECT_TRUE(daemon_.WaitForLine({"event=end", "service=marker", "pid=" + std::to_string(old_pid)},
                                  milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_FALSE(Alive(old_pid));
  EXPECT_EQ(daemon_.CountLines({"event=stale-stop"}), 1u) << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=drop"}), 0u) << daemon_.LogText();
  pid_t new_pid = AcceptedPid(2);
  EXPECT_GT(new_pid, 0);
  EXPECT_NE(new_pid, old_pid);
  EXPECT_TRUE(Alive(new_pid));
  close(fd);
}

TEST_F(WaitReloadTest, ChildHandlingASlowRequestIsStoppedOnlyOnceIdle) {
  int fd = -1;
  pid_t old_pid = -1;
  ASSERT_NO_FATAL_FAILURE(StartOld(fd, old_pid));
  // The child sleeps 2 s in this request; the reload comes meanwhile.
  ASSERT_TRUE(SendTo(fd, "127.0.0.1", port_, "slow:2000"));
  Config("new");
  Reload(2);
  // Several idle checks pass while it works: it is not stopped, and it
  // answers, with the old marker.
  auto reply = RecvDatagram(fd, milliseconds(10000));
  ASSERT_TRUE(reply) << daemon_.LogText();
  EXPECT_EQ(*reply, "old 1 slow:2000");
  // Now idle: replaced, and the next answers come from the new plan.
  EXPECT_TRUE(AskUntilMarker(fd, "new", 100)) << daemon_.LogText();
  EXPECT_TRUE(daemon_.WaitForLine({"event=stale-stop", "pid=" + std::to_string(old_pid)},
                                  milliseconds(5000)))
      << daemon_.LogText();
  close(fd);
}

TEST_F(WaitReloadTest, ChildWithALiveProcessIsStoppedOnlyOnceItIsGone) {
  int fd = -1;
  pid_t old_pid = -1;
  ASSERT_NO_FATAL_FAILURE(StartOld(fd, old_pid));
  // A process of its own that lives 5 s (a transfer in progress); the child
  // itself is back in recvfrom at once. The asking below runs for 1.5 s
  // after the reload, and stops at the latest 1 s before that process can
  // end (counted from before the request was sent, so whatever the reply's
  // and the reload's delays): every datagram of it is read by the old child
  // while the process surely lives. (It lived 2 s from a clock started
  // after the reply, a margin of 0.5 s minus the reply's delay, which a
  // loaded host can eat.)
  auto sent = Clock::now();
  ASSERT_EQ(Ask(fd, "fork:5000"), "old 1 fork:5000");
  Config("new");
  Reload(2);
  // While that process lives, the child keeps answering: not idle.
  int asked = 0;
  auto reloaded = Clock::now();
  while (Clock::now() - reloaded < milliseconds(1500) &&
         Clock::now() - sent < milliseconds(4000)) {
    std::string payload = "during-" + std::to_string(asked++);
    EXPECT_EQ(Ask(fd, payload), "old 1 " + payload) << daemon_.LogText();
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_GT(asked, 3);
  EXPECT_EQ(daemon_.CountLines({"event=stale-stop"}), 0u) << daemon_.LogText();
  // Once it is gone (within 3.5 s), the child is replaced: 200 tries are
  // at least 10 s.
  EXPECT_TRUE(AskUntilMarker(fd, "new", 200)) << daemon_.LogText();
  auto stopped = daemon_.WaitForLine({"event=stale-stop", "pid=" + std::to_string(old_pid)},
                                     milliseconds(5000));
  ASSERT_TRUE(stopped) << daemon_.LogText();
  close(fd);
}

// Other UDP traffic on the host does not hold the stop back: a flow of
// datagrams between two other sockets, one every ~0.1 ms, keeps the
// network namespace's UDP counters moving all along (with only those to
// go by, the stop waited for a gap in the flow, which may never come); the
// stale child is still replaced within seconds, and every datagram of the
// service's client is answered once.
TEST_F(WaitReloadTest, OtherUdpTrafficDoesNotHoldTheStopBack) {
  int fd = -1;
  pid_t old_pid = -1;
  ASSERT_NO_FATAL_FAILURE(StartOld(fd, old_pid));

  uint16_t flow_port = FreeUdpPort();
  ASSERT_NE(flow_port, 0);
  int sink = UdpSocket("127.0.0.1", flow_port);
  int source = UdpSocket();
  ASSERT_GE(sink, 0);
  ASSERT_GE(source, 0);
  std::atomic<bool> stop{false};
  std::atomic<int> flowed{0};
  std::thread flow([&] {
    // At most 300000 of them (~60 s); each is read, which is what counts.
    for (int i = 0; i < 300000 && !stop.load(); ++i) {
      if (SendTo(source, "127.0.0.1", flow_port, "flow") &&
          RecvDatagram(sink, milliseconds(1000))) {
        flowed.fetch_add(1);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  });
  // The flow runs before the reload (at most 10 s to get going).
  for (int i = 0; i < 1000 && flowed.load() < 100; ++i) {
    std::this_thread::sleep_for(milliseconds(10));  // polling the flow's count; bounded
  }
  int flowed_before = flowed.load();
  ASSERT_GE(flowed_before, 100) << "the other traffic did not flow";
  Config("new");
  Reload(2);
  bool replaced = AskUntilMarker(fd, "new", 100);  // at least 5 s
  int flowed_after = flowed.load();
  stop = true;
  flow.join();
  EXPECT_TRUE(replaced) << daemon_.LogText();
  // The flow went on through the wait (the counters moved all along).
  EXPECT_GT(flowed_after, flowed_before);
  EXPECT_TRUE(daemon_.WaitForLine({"event=stale-stop", "pid=" + std::to_string(old_pid)},
                                  milliseconds(5000)))
      << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=drop"}), 0u) << daemon_.LogText();
  for (int s : {fd, sink, source}) close(s);
}

TEST_F(WaitReloadTest, UnchangedPlanKeepsItsChild) {
  uint16_t other = FreeTcpPort();
  ASSERT_NE(other, 0);
  ASSERT_TRUE(daemon_.StartAndWait(Config("same"))) << daemon_.LogText();
  int fd = UdpSocket();
  ASSERT_GE(fd, 0);
  ASSERT_EQ(MarkerOf(Ask(fd, "first")), "same");
  pid_t pid = AcceptedPid(1);
  ASSERT_GT(pid, 0);
  // Another service added: a real reload, and the marker's plan unchanged.
  Config("same", InternalService("echo", "echo", "\"127.0.0.1:" + std::to_string(other) + "\""));
  Reload(2);
  EXPECT_EQ(Exchange("127.0.0.1", other, "x\n"), "x\n");  // the reload took
  // Over a second (four idle-check periods), the same child answers.
  auto start = Clock::now();
  int asked = 0;
  while (Clock::now() - start < milliseconds(1000)) {
    std::string payload = "p" + std::to_string(asked++);
    EXPECT_EQ(Ask(fd, payload), "same 1 " + payload);
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(Alive(pid));
  EXPECT_EQ(daemon_.CountLines({"event=accept", "service=marker"}), 1u) << daemon_.LogText();
  EXPECT_EQ(daemon_.CountLines({"event=stale-stop"}), 0u) << daemon_.LogText();
  close(fd);
}

}  // namespace
}  // namespace hinetd::testing
