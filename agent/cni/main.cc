// probesnat-cni: a chained CNI plugin that enrolls pods with probesnatd (README.md beside this).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/time/clock.h"
#include "agent/cni/grpc_agent_client.h"
#include "agent/cni/kernel_pod_table_probe.h"
#include "agent/cni/plugin.h"
#include "grpc/grpc.h"

namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// At most `limit` + 1 bytes, so that an oversized configuration is refused, not truncated.
std::string ReadStdin(size_t limit) {
  std::string out;
  char buf[65536];
  while (out.size() <= limit) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace

int main() {
  using namespace probesnat::cni;
  const absl::Time start = absl::Now();
  // Held to the end and never released: releasing gRPC's last reference runs its shutdown, which
  // joins its threads with sleeps (about 5 ms of the ~10 ms run, measured); the process ends
  // with _Exit once its answer is out, and the kernel reclaims the rest.
  grpc_init();
  Invocation inv;
  inv.command = Env("CNI_COMMAND");
  inv.container_id = Env("CNI_CONTAINERID");
  inv.netns = Env("CNI_NETNS");
  inv.ifname = Env("CNI_IFNAME");
  inv.args = Env("CNI_ARGS");
  inv.path = Env("CNI_PATH");
  // VERSION may come with no configuration worth reading; every other verb has one.
  inv.stdin_bytes = ReadStdin(kMaxConfigBytes);

  KernelPodTableProbe probe;
  PluginDeps deps;
  deps.connect = [start](const PluginConfig& config) -> std::unique_ptr<AgentClient> {
    return std::make_unique<GrpcAgentClient>(config.socket, start + config.timeout);
  };
  deps.probe = &probe;

  Outcome out = RunPlugin(inv, deps);
  for (const std::string& line : out.log) {
    std::cerr << "probesnat-cni: " << line << "\n";
  }
  if (!out.stdout_text.empty()) {
    std::cout << out.stdout_text << "\n";
  }
  std::cout.flush();
  std::cerr.flush();
  std::_Exit(out.exit_code);
}
