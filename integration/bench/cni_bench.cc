// cni_bench: what probesnat-cni adds to a pod's network setup. The real chain bridge + host-local
// + probesnat-cni (Debian's containernetworking-plugins) against the same chain without
// probesnat-cni, each plugin executed as a runtime does (CNI_* environment, config on stdin,
// previous result as prevResult), from a node namespace where the real probesnatd runs.
//
//   cni_bench [--pods 200] [--burst 50] [--probesnatd PATH] [--plugins /usr/lib/cni]
//
// Prints ADD latency p50/p99/max of both chains over --pods pods each (alternating), the
// probesnat-cni step alone, and the wall time of --burst concurrent ADDs of each chain. Needs
// root; every namespace it creates is removed. A program, not a test.
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "integration/harness/daemon.h"
#include "integration/harness/latency_stats.h"
#include "netfilter/netns.h"
#include "netfilter/testing/scoped_netns.h"
#include "nlohmann/json.hpp"

namespace pi = probesnat::integration;
using json = nlohmann::ordered_json;
using probesnat::netfilter::testing::ScopedNetns;

namespace {

struct Exec {
  int rc = -1;
  std::string out;
};

// Runs `binary` inside the namespace `netns_fd` with `env`, `input` on stdin; its stdout.
Exec RunPlugin(int netns_fd, const std::string& binary, const std::vector<std::string>& env,
               const std::string& input) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return {};
  std::vector<char*> envp;
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  char* argv[] = {const_cast<char*>(binary.c_str()), nullptr};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setns(netns_fd, CLONE_NEWNET);
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 2);
    ::execve(binary.c_str(), argv, envp.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  (void)!::write(in[1], input.data(), input.size());
  ::close(in[1]);
  Exec r;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof(buf))) > 0) r.out.append(buf, n);
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

struct Chain {
  json conflist;
  std::string bin_dir;
  int node_fd;
};

// One ADD of the chain for pod `pod` (namespace name): per-plugin durations in ms; false on error.
bool Add(const Chain& chain, const std::string& pod, std::vector<double>* step_ms,
         std::string* error) {
  json prev;
  for (const json& plugin : chain.conflist["plugins"]) {
    json conf = plugin;
    conf["name"] = chain.conflist["name"];
    conf["cniVersion"] = chain.conflist["cniVersion"];
    if (!prev.is_null()) conf["prevResult"] = prev;
    std::vector<std::string> env = {
        "CNI_COMMAND=ADD", "CNI_CONTAINERID=" + pod, "CNI_NETNS=/run/netns/" + pod,
        "CNI_IFNAME=eth0", "CNI_PATH=" + chain.bin_dir,
        "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=" + pod +
            ";K8S_POD_UID=uid-" + pod};
    const absl::Time t0 = absl::Now();
    Exec r = RunPlugin(chain.node_fd, chain.bin_dir + "/" + plugin["type"].get<std::string>(),
                       env, conf.dump());
    step_ms->push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
    if (r.rc != 0) {
      *error = absl::StrCat(plugin["type"].get<std::string>(), ": ", r.out);
      return false;
    }
    prev = json::parse(r.out, nullptr, false);
  }
  return true;
}

void Print(const char* what, const std::vector<double>& v) {
  pi::LatencyStats s = pi::Summarize(v);
  std::printf("  %-52s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  (n=%zu)\n", what, s.p50, s.p99,
              s.max, v.size());
}

}  // namespace

int main(int argc, char** argv) {
  int pods = 200, burst = 50;
  std::string probesnatd = pi::ProbesnatdPath(), plugins = "/usr/lib/cni";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--pods") (void)absl::SimpleAtoi(argv[i + 1], &pods);
    else if (a == "--burst") (void)absl::SimpleAtoi(argv[i + 1], &burst);
    else if (a == "--probesnatd") probesnatd = argv[i + 1];
    else if (a == "--plugins") plugins = argv[i + 1];
    else { std::fprintf(stderr, "unknown option %s\n", a.c_str()); return 2; }
  }
  if (::geteuid() != 0) { std::fprintf(stderr, "cni_bench: needs root\n"); return 1; }
  ScopedNetns::RemoveStale();
  auto node = ScopedNetns::Create("cnib-node");
  if (!node.ok()) { std::fprintf(stderr, "%s\n", node.status().ToString().c_str()); return 1; }
  auto node_fd = probesnat::netfilter::OpenNetns(node->path());
  char tmpl[] = "/tmp/psnt-cnibench-XXXXXX";
  const std::string tmp = ::mkdtemp(tmpl);
  const std::string bin = tmp + "/bin";
  std::string cni = std::string(PROBESNAT_CNI_PATH);
  (void)!std::system(absl::StrCat("mkdir -p ", bin, " && cp ", plugins, "/bridge ", plugins,
                                  "/host-local ", cni, " ", bin).c_str());
  pi::Daemon::Options opts;
  opts.binary = probesnatd;
  opts.node_netns = node->name();
  opts.args = {"--allowed-netns-root", "/run/netns", "--resync-interval", "0s"};
  auto daemon = pi::Daemon::Start(opts);
  if (!daemon.ok()) { std::fprintf(stderr, "%s\n", daemon.status().ToString().c_str()); return 1; }

  json bridge = {{"type", "bridge"}, {"bridge", "cni0"}, {"isGateway", true},
                 {"ipam", {{"type", "host-local"}, {"dataDir", tmp + "/ipam"},
                           {"ranges", json::array({json::array({{{"subnet", "10.90.0.0/16"}}})})}}}};
  json probesnat = {{"type", "probesnat-cni"}, {"socket", (*daemon)->socket_path()},
                    {"stateDir", tmp + "/state"}};
  Chain with{{{"cniVersion", "1.0.0"}, {"name", "bench"}, {"plugins", {bridge, probesnat}}}, bin,
             node_fd->get()};
  Chain without{{{"cniVersion", "1.0.0"}, {"name", "bench"}, {"plugins", {bridge}}}, bin,
                node_fd->get()};

  std::vector<ScopedNetns> netns;
  auto new_pod = [&](const std::string& label) -> std::string {
    auto ns = ScopedNetns::Create(label);
    if (!ns.ok()) { std::fprintf(stderr, "%s\n", ns.status().ToString().c_str()); std::exit(1); }
    netns.push_back(*std::move(ns));
    return netns.back().name();
  };
  std::vector<double> with_ms, without_ms, step_ms;
  std::string error;
  for (int i = 0; i < pods; ++i) {
    for (int variant = 0; variant < 2; ++variant) {
      const bool use = (i + variant) % 2 == 0;
      std::string pod = new_pod(use ? "cnib-w" : "cnib-o");
      std::vector<double> steps;
      if (!Add(use ? with : without, pod, &steps, &error)) {
        std::fprintf(stderr, "ADD failed: %s\n", error.c_str());
        return 1;
      }
      double total = 0;
      for (double s : steps) total += s;
      (use ? with_ms : without_ms).push_back(total);
      if (use) step_ms.push_back(steps.back());
    }
  }
  double load[3] = {0, 0, 0};
  FILE* f = std::fopen("/proc/loadavg", "r");
  if (f) { (void)!std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]); std::fclose(f); }
  std::printf("cni_bench: %d pods per chain, load average %.2f %.2f %.2f, %u cores\n", pods,
              load[0], load[1], load[2], std::thread::hardware_concurrency());
  Print("ADD bridge+host-local", without_ms);
  Print("ADD bridge+host-local+probesnat-cni", with_ms);
  Print("  of which the probesnat-cni step (exec + Enroll)", step_ms);
  pi::LatencyStats a = pi::Summarize(with_ms), b = pi::Summarize(without_ms);
  std::printf("  %-52s p50 %+7.2f ms  p99 %+7.2f ms\n", "added by probesnat-cni", a.p50 - b.p50,
              a.p99 - b.p99);

  for (int variant = 0; variant < 2; ++variant) {
    const Chain& chain = variant == 0 ? without : with;
    std::vector<std::string> names;
    for (int i = 0; i < burst; ++i) names.push_back(new_pod(variant ? "cnib-bw" : "cnib-bo"));
    std::vector<std::thread> threads;
    std::vector<int> ok(burst, 0);
    const absl::Time t0 = absl::Now();
    for (int i = 0; i < burst; ++i) {
      threads.emplace_back([&, i] {
        std::vector<double> steps;
        std::string e;
        ok[i] = Add(chain, names[i], &steps, &e);
      });
    }
    for (auto& t : threads) t.join();
    const double ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
    int good = 0;
    for (int v : ok) good += v;
    std::printf("  %-52s %8.1f ms  (%d/%d ok)\n",
                variant ? "burst of concurrent ADDs, with probesnat-cni"
                        : "burst of concurrent ADDs, without probesnat-cni",
                ms, good, burst);
  }
  // The step's own p99, not a difference of two chains' p99s: those are noisy enough on a shared
  // machine to come out negative.
  const pi::LatencyStats step = pi::Summarize(step_ms);
  std::printf("  target: the probesnat-cni step < 2 ms p99: %s (p99 %.2f ms)\n",
              step.p99 < 2 ? "met" : "NOT met", step.p99);
  netns.clear();
  daemon->reset();
  (void)!std::system(absl::StrCat("rm -rf ", tmp).c_str());
  return 0;
}
