// What an NftSocket accepts as answers: only the kernel's (another process cannot inject
// messages), and only whole messages of a receive buffer.
#include <linux/netlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "netfilter/nft_socket.h"

namespace probesnat::netfilter {
namespace {

TEST(NftSocketTest, AnotherProcessCannotSendToTheSocket) {
  absl::StatusOr<NftSocket> socket = NftSocket::Open("test namespace");
  ASSERT_TRUE(socket.ok()) << socket.status();
  UniqueFd fd = std::move(*socket).ReleaseFd();
  sockaddr_nl self{};
  socklen_t len = sizeof(self);
  ASSERT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&self), &len), 0);
  ASSERT_NE(self.nl_pid, 0u);

  UniqueFd forger(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER));
  ASSERT_TRUE(forger.valid()) << std::strerror(errno);
  nlmsghdr fake{};
  fake.nlmsg_len = sizeof(fake);
  fake.nlmsg_type = NLMSG_DONE;
  ssize_t sent = ::sendto(forger.get(), &fake, sizeof(fake), 0,
                          reinterpret_cast<sockaddr*>(&self), sizeof(self));
  EXPECT_EQ(sent, -1) << "a forged answer reached the agent's socket";
  EXPECT_EQ(errno, ECONNREFUSED) << std::strerror(errno);
}

TEST(NftSocketTest, OnlyWholeMessagesAreSplitOff) {
  alignas(nlmsghdr) char buffer[64] = {};
  auto* first = reinterpret_cast<nlmsghdr*>(buffer);
  first->nlmsg_len = sizeof(nlmsghdr) + 4;
  first->nlmsg_type = 0x1234;
  auto* second = reinterpret_cast<nlmsghdr*>(buffer + NLMSG_ALIGN(first->nlmsg_len));
  second->nlmsg_len = 0xfffffff0;  // libmnl's mnl_nlmsg_ok() took this as negative, hence fine
  EXPECT_EQ(SplitNetlinkMessages(buffer, sizeof(buffer)).size(), 1u);

  second->nlmsg_len = sizeof(nlmsghdr);
  second->nlmsg_type = NLMSG_ERROR;  // shorter than an nlmsgerr
  EXPECT_EQ(SplitNetlinkMessages(buffer, sizeof(buffer)).size(), 1u);

  second->nlmsg_type = 0x1234;
  EXPECT_EQ(SplitNetlinkMessages(buffer, sizeof(buffer)).size(), 2u);
  EXPECT_TRUE(SplitNetlinkMessages(buffer, sizeof(nlmsghdr) - 1).empty());
}

}  // namespace
}  // namespace probesnat::netfilter
