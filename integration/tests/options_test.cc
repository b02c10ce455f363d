// Per-pod overrides, non-default ports and marks, single-family pods and /proc namespace paths:
// what real connections look like with them.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "integration/tests/test_support.h"
#include "netfilter/testing/scoped_child.h"

namespace probesnat::integration {
namespace {

class OptionsTest : public AgentTest {
 protected:
  // Connects from `fd` to ip:port and expects `expected` (and none of `others`) to accept it.
  std::optional<Accepted> Lands(int fd, const std::string& ip, uint16_t port, Listener& expected,
                                std::initializer_list<Listener*> others,
                                const ConnectOptions& options = {}) {
    std::optional<Accepted> got = ConnectAndAccept(fd, ip, port, expected, options);
    absl::SleepFor(kQuiet);
    for (Listener* l : others) {
      EXPECT_FALSE(l->HasPending())
          << "listener on " << l->port() << " also got the connection to " << ip << ":" << port;
    }
    return got;
  }
};

TEST_F(OptionsTest, DisabledInboundCaptureDeliversToTheAppButKeepsTunnelAndProbes) {
  auto app = Listen(fd_a(), kAppPort);
  auto tunnel = Listen(fd_a(), kTunnelPort);
  auto inbound = Listen(fd_a(), kInboundPort);
  ASSERT_TRUE(app && tunnel && inbound);
  probesnat::v1::Pod pod = PodA();
  pod.mutable_overrides()->set_disable_inbound_capture(true);
  MustEnroll(pod);
  for (const auto& [dst, src] : {std::pair{a().v4, b().v4}, std::pair{a().v6, b().v6}}) {
    std::optional<Accepted> direct =
        Lands(fd_b(), dst, kAppPort, *app, {inbound.get(), tunnel.get()});
    ASSERT_TRUE(direct.has_value());
    EXPECT_EQ(direct->peer.ip, src);
    std::optional<Accepted> hbone =
        Lands(fd_b(), dst, kTunnelPort, *tunnel, {inbound.get(), app.get()});
    ASSERT_TRUE(hbone.has_value());
  }
  std::optional<Accepted> probe = Lands(fd_node(), a().v4, kAppPort, *app, {inbound.get()});
  ASSERT_TRUE(probe.has_value());
  EXPECT_EQ(probe->peer.ip, kProbeV4);
}

TEST_F(OptionsTest, DisabledOutboundCaptureLetsTheAppOut) {
  auto outbound = Listen(fd_a(), kOutboundPort);
  auto inbound = Listen(fd_a(), kInboundPort);
  auto app_b = Listen(fd_b(), kPodBAppPort);
  ASSERT_TRUE(outbound && inbound && app_b);
  probesnat::v1::Pod pod = PodA();
  pod.mutable_overrides()->set_disable_outbound_capture(true);
  MustEnroll(pod);
  for (const auto& [dst, src] : {std::pair{b().v4, a().v4}, std::pair{b().v6, a().v6}}) {
    std::optional<Accepted> got = Lands(fd_a(), dst, kPodBAppPort, *app_b, {outbound.get()});
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->peer.ip, src);
  }
  // Inbound capture is still on.
  std::optional<Accepted> in = Lands(fd_b(), a().v4, kAppPort, *inbound, {outbound.get()});
  ASSERT_TRUE(in.has_value());
}

TEST_F(OptionsTest, NonDefaultPortsAndProxyMarkAreHonoured) {
  constexpr uint16_t kTunnel = 16008, kInbound = 16006, kOutbound = 16001;
  constexpr uint32_t kMark = 0x777;
  StartDaemon({"--tunnel-port", "16008", "--inbound-port", "16006", "--outbound-port", "16001",
               "--proxy-mark", "0x777"});
  auto app = Listen(fd_a(), kAppPort);
  auto tunnel = Listen(fd_a(), kTunnel);
  auto inbound = Listen(fd_a(), kInbound);
  auto outbound = Listen(fd_a(), kOutbound);
  auto default_inbound = Listen(fd_a(), kInboundPort);
  auto default_outbound = Listen(fd_a(), kOutboundPort);
  auto app_b = Listen(fd_b(), kPodBAppPort);
  ASSERT_TRUE(app && tunnel && inbound && outbound && default_inbound && default_outbound && app_b);
  MustEnroll(PodA());

  std::optional<Accepted> in =
      Lands(fd_b(), a().v4, kAppPort, *inbound, {default_inbound.get(), app.get()});
  ASSERT_TRUE(in.has_value());
  ASSERT_TRUE(in->original_dst.has_value());
  EXPECT_EQ(*in->original_dst, (Endpoint{a().v4, kAppPort}));
  ASSERT_TRUE(Lands(fd_b(), a().v6, kTunnel, *tunnel, {inbound.get()}).has_value());
  std::optional<Accepted> out =
      Lands(fd_a(), b().v6, kPodBAppPort, *outbound, {default_outbound.get(), app_b.get()});
  ASSERT_TRUE(out.has_value());
  ASSERT_TRUE(out->original_dst.has_value());
  EXPECT_EQ(*out->original_dst, (Endpoint{b().v6, kPodBAppPort}));
  // The configured mark bypasses capture; the default one no longer does.
  ConnectOptions marked;
  marked.mark = kMark;
  ASSERT_TRUE(Lands(fd_a(), b().v4, kPodBAppPort, *app_b, {outbound.get()}, marked).has_value());
  ASSERT_TRUE(Lands(fd_a(), b().v4, kPodBAppPort, *outbound, {app_b.get()}, Marked()).has_value());
}

TEST_F(OptionsTest, SingleFamilyPodIsSnatedOnlyInThatFamily) {
  auto app = Listen(fd_a(), kAppPort);
  auto inbound = Listen(fd_a(), kInboundPort);
  ASSERT_TRUE(app && inbound);
  MustEnroll(MakePod(kUidA, {a().v6}, a().path(), "pod-a"));
  std::optional<Accepted> v6 = Lands(fd_node(), a().v6, kAppPort, *app, {inbound.get()});
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->peer.ip, kProbeV6);
  // A's IPv4 address was not enrolled: the node's set does not hold it, so no SNAT, and the pod's
  // table (one inet table for both families) captures it like any other inbound connection.
  std::optional<Accepted> v4 = Lands(fd_node(), a().v4, kAppPort, *inbound, {app.get()});
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->peer.ip, kNodeV4);
  EXPECT_EQ(ProbesnatSetElements(topo_->node().name()), (std::set<std::string>{a().v6}));
}

TEST_F(OptionsTest, ProcPidNetnsPathWorks) {
  // A process in pod A's namespace, as a container runtime would have; its /proc path is the
  // handle.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setns(fd_a(), CLONE_NEWNET);
    ::execlp("sleep", "sleep", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const netfilter::testing::ScopedChild reaper(pid);
  const std::string path = absl::StrCat("/proc/", pid, "/ns/net");
  // Wait until the child has entered the namespace.
  bool entered = false;
  for (int i = 0; i < 100 && !entered; ++i) {
    absl::StatusOr<UniqueFd> fd = netfilter::OpenNetns(path);
    struct stat mine {
    }, target{};
    entered = fd.ok() && ::fstat(fd->get(), &mine) == 0 && ::fstat(fd_a(), &target) == 0 &&
              mine.st_ino == target.st_ino;
    if (!entered) absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(entered);
  StartDaemon({"--allowed-netns-root", "/proc"});
  auto app = Listen(fd_a(), kAppPort);
  auto inbound = Listen(fd_a(), kInboundPort);
  ASSERT_TRUE(app && inbound);
  MustEnroll(MakePod(kUidA, {a().v4, a().v6}, path, "pod-a"));
  ASSERT_TRUE(Lands(fd_b(), a().v4, kAppPort, *inbound, {app.get()}).has_value());
  std::optional<Accepted> probe = Lands(fd_node(), a().v4, kAppPort, *app, {inbound.get()});
  ASSERT_TRUE(probe.has_value());
  EXPECT_EQ(probe->peer.ip, kProbeV4);
  ASSERT_TRUE(Unenroll(*stub_, kUidA).ok());
  EXPECT_FALSE(HasProbesnatTable(a().name()).value_or(true));
}

}  // namespace
}  // namespace probesnat::integration
