// The control channel's outgoing queue is bounded: a peer that never reads
// makes Send fail with over_limit() once the limit is reached, instead of
// growing the sender without end; a broken channel is not "over the limit".
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "supervisor/protocol.h"

namespace hinetd::supervisor {
namespace {

TEST(Channel, AQueueToAPeerThatNeverReadsStopsAtItsLimit) {
  auto pair = ControlPair();
  ASSERT_TRUE(pair.ok());
  Channel channel(std::move(pair->first));
  constexpr size_t kLimit = 16;
  channel.set_queue_limit(kLimit, 1 << 20);
  ConnectionRequest end;
  size_t sent = 0;
  // The kernel's buffer takes a few thousand; then the queue, then no more.
  while (sent < 1'000'000 && channel.Send(&end, sizeof end)) ++sent;
  EXPECT_LT(sent, 1'000'000u);
  EXPECT_TRUE(channel.over_limit());
  EXPECT_EQ(channel.queued(), kLimit);
  EXPECT_TRUE(channel.pending());
  // Reading makes room again: what was queued goes out in order.
  Channel peer(std::move(pair->second));
  Channel::Received msg;
  ASSERT_EQ(peer.Recv(msg), Channel::RecvStatus::kMessage);
  EXPECT_EQ(msg.data.size(), sizeof end);
}

TEST(Channel, TheByteLimitCountsToo) {
  auto pair = ControlPair();
  ASSERT_TRUE(pair.ok());
  Channel channel(std::move(pair->first));
  channel.set_queue_limit(1000, 3 * sizeof(ConnectionRequest));
  ConnectionRequest end;
  size_t sent = 0;
  while (sent < 1'000'000 && channel.Send(&end, sizeof end)) ++sent;
  EXPECT_TRUE(channel.over_limit());
  EXPECT_EQ(channel.queued(), 3u);
}

TEST(Channel, ABrokenChannelIsNotOverTheLimit) {
  auto pair = ControlPair();
  ASSERT_TRUE(pair.ok());
  Channel channel(std::move(pair->first));
  pair->second.reset();  // the peer is gone
  ConnectionRequest end;
  EXPECT_FALSE(channel.Send(&end, sizeof end));
  EXPECT_FALSE(channel.over_limit());
  EXPECT_FALSE(channel.Send(&end, sizeof end));
  EXPECT_EQ(channel.queued(), 0u);
}

TEST(Channel, ALostDescriptorIsToldApartFromATooLongMessage) {
  auto pair = ControlPair();
  ASSERT_TRUE(pair.ok());
  Channel receiver(std::move(pair->second));
  int fds[3];
  for (int& fd : fds) fd = dup(0);
  // Three descriptors, one more than a message carries.
  char byte = 'x';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)];
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  std::memcpy(CMSG_DATA(c), fds, sizeof fds);
  ASSERT_EQ(sendmsg(pair->first.get(), &m, 0), 1);
  Channel::Received msg;
  ASSERT_EQ(receiver.Recv(msg), Channel::RecvStatus::kMessage);
  EXPECT_TRUE(msg.truncated);
  EXPECT_FALSE(msg.data_truncated);
  // Longer than any message.
  std::string big(100'000, 'y');
  ASSERT_EQ(send(pair->first.get(), big.data(), big.size(), 0), static_cast<ssize_t>(big.size()));
  ASSERT_EQ(receiver.Recv(msg), Channel::RecvStatus::kMessage);
  EXPECT_TRUE(msg.truncated);
  EXPECT_TRUE(msg.data_truncated);
  for (int fd : fds) close(fd);
}

// RecvSome: up to four messages a call, in order, descriptors with their
// message; a batch that is not full was all there was; the peer's close
// after messages is reported once they are read.
TEST(Channel, RecvSomeTakesSeveralMessagesInOneCallAndSaysWhenThatWasAll) {
  auto pair = ControlPair();
  ASSERT_TRUE(pair.ok());
  Channel sender(std::move(pair->first));
  Channel receiver(std::move(pair->second));
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  for (int i = 0; i < 6; ++i) {
    std::string text = "message " + std::to_string(i);
    std::vector<int> fds;
    if (i == 4) fds.push_back(p[0]);
    ASSERT_TRUE(sender.Send(text.data(), text.size(), fds));
  }
  close(p[0]);
  std::array<Channel::Received, Channel::kBatch> got;
  size_t n = 0;
  ASSERT_EQ(receiver.RecvSome(got, n), Channel::RecvStatus::kMessage);
  ASSERT_EQ(n, Channel::kBatch);  // full: there may be more
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(got[i].data, "message " + std::to_string(i));
  ASSERT_EQ(receiver.RecvSome(got, n), Channel::RecvStatus::kMessage);
  ASSERT_EQ(n, 2u);  // not full: that was all
  EXPECT_EQ(got[0].data, "message 4");
  ASSERT_EQ(got[0].fds.size(), 1u);
  EXPECT_EQ(write(p[1], "x", 1), 1);  // the descriptor is the pipe's read end
  char c = 0;
  EXPECT_EQ(read(got[0].fds[0].get(), &c, 1), 1);
  EXPECT_FALSE(got[0].truncated);
  EXPECT_EQ(got[1].data, "message 5");
  EXPECT_TRUE(got[1].fds.empty());
  EXPECT_EQ(receiver.RecvSome(got, n), Channel::RecvStatus::kAgain);
  // Two more, then the sender goes: the two first, then the close.
  ASSERT_TRUE(sender.Send("a", 1));
  ASSERT_TRUE(sender.Send("b", 1));
  { Channel gone(std::move(sender)); }
  ASSERT_EQ(receiver.RecvSome(got, n), Channel::RecvStatus::kMessage);
  ASSERT_EQ(n, 2u);
  EXPECT_EQ(got[0].data, "a");
  EXPECT_EQ(got[1].data, "b");
  EXPECT_EQ(receiver.RecvSome(got, n), Channel::RecvStatus::kClosed);
  close(p[1]);
}

}  // namespace
}  // namespace hinetd::supervisor
