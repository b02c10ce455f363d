#pragma once

#include <unistd.h>

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "integration/harness/daemon.h"
#include "integration/harness/enroll_client.h"
#include "integration/harness/kernel_state.h"
#include "integration/harness/sockets.h"
#include "integration/harness/topology.h"
#include "netfilter/netns.h"
#include "netfilter/testing/scoped_netns.h"

namespace probesnat::integration {

#define PSNT_ASSERT_OK(expr)                                  \
  do {                                                        \
    const absl::Status _st = (expr);                          \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (0)

// Default probe addresses (DESIGN.md "Compatible defaults").
inline constexpr char kProbeV4[] = "169.254.7.127";
inline constexpr char kProbeV6[] = "fd16:9254:7127:1337:ffff:ffff:ffff:ffff";

inline constexpr uint16_t kAppPort = 8080;
inline constexpr uint16_t kTunnelPort = 15008;
inline constexpr uint16_t kInboundPort = 15006;
inline constexpr uint16_t kOutboundPort = 15001;
inline constexpr uint16_t kPodBAppPort = 9090;
inline constexpr uint16_t kNodePort = 30080;
inline constexpr uint32_t kProxyMark = 0x539;

// How long a connection that should arrive may take, and how long we watch for one that should not.
inline constexpr absl::Duration kArrive = absl::Seconds(3);
inline constexpr absl::Duration kQuiet = absl::Milliseconds(200);

// Kubernetes-style pod UIDs.
inline constexpr char kUidA[] = "3b0f6a52-1c2d-4e8f-9a01-5b6c7d8e9f0a";
inline constexpr char kUidB[] = "7c1e2d3f-4a5b-4c6d-8e7f-9012a3b4c5d6";

// A topology (node, pod A, pod B, outside) with namespace fds open, and nothing of probesnat.
class TopologyTest : public ::testing::Test {
 protected:
  void SetUp() override;

  PodNetwork& a() { return topo_->pod(0); }
  PodNetwork& b() { return topo_->pod(1); }
  int fd_node() const { return node_fd_.get(); }
  int fd_a() const { return a_fd_.get(); }
  int fd_b() const { return b_fd_.get(); }
  int fd_outside() const { return outside_fd_.get(); }

  // Listener on `port` (v4 and v6 wildcard) in the namespace `fd`; fails the test on error.
  std::unique_ptr<Listener> Listen(int fd, uint16_t port);

  // Connects from namespace `fd` to `ip`:`port` and returns what `listener` accepted; fails the
  // test (and returns nullopt) if the connect fails or nothing arrives at `listener` within
  // kArrive.
  std::optional<Accepted> ConnectAndAccept(int fd, const std::string& ip, uint16_t port,
                                           Listener& listener, const ConnectOptions& options = {});

  // The node's foreign NodePort table: node:30080 (10.99.0.1 / fd00:99::1) DNATed to pod A:8080,
  // optionally masqueraded towards the pod.
  void InstallNodePort(bool masquerade);

  // probesnatd in the node namespace, pods under /run/netns, no drift check, `extra` flags; the
  // harness picks the socket when `socket` is empty; `wait_ready=false` for a start that must fail.
  Daemon::Options DaemonOptions(const std::vector<std::string>& extra,
                                const std::string& socket = "", bool wait_ready = true) const;

  std::unique_ptr<Topology> topo_;
  UniqueFd node_fd_, a_fd_, b_fd_, outside_fd_;
};

// TopologyTest for tests that start the real probesnatd themselves: skipped when it was not built.
class AgentBinaryTest : public TopologyTest {
 protected:
  void SetUp() override;
};

// TopologyTest plus the real probesnatd running in the node namespace.
class AgentTest : public AgentBinaryTest {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts probesnatd in the node namespace with the allowed roots and `extra` flags.
  void StartDaemon(const std::vector<std::string>& extra = {});

  probesnat::v1::Pod PodA() const;
  probesnat::v1::Pod PodB() const;
  // Enrolls `pod`, failing the test on a non-OK status.
  void MustEnroll(const probesnat::v1::Pod& pod);

  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<probesnat::v1::Enrollment::Stub> stub_;
};

bool IsRoot();

// A private (0700) temporary directory /tmp/<prefix>-XXXXXX, removed with everything in it.
class ScopedDir {
 public:
  explicit ScopedDir(const std::string& prefix);
  ~ScopedDir();
  ScopedDir(const ScopedDir&) = delete;
  ScopedDir& operator=(const ScopedDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The exit code of a wait status, or -1 if the process did not exit normally.
int ExitCode(int wait_status);

// Connect options carrying the proxy mark.
inline ConnectOptions Marked() {
  ConnectOptions o;
  o.mark = kProxyMark;
  return o;
}

}  // namespace probesnat::integration
