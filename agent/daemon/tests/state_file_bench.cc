// Put latency of the state file with 1,000 pods enrolled, and the cost of opening it (read, check,
// rewrite), in each directory given (default: /run, /dev/shm and /var/tmp).
//
//   daemon_state_file_bench [DIR...]

#include <stdlib.h>
#include <sys/vfs.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/daemon/state_file.h"

namespace probesnat::daemon {
namespace {

constexpr int kPods = 1000;
constexpr int kMeasuredPuts = 5000;

using Clock = std::chrono::steady_clock;

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

JournaledPod BenchPod(int n) {
  JournaledPod pod;
  pod.spec.uid = absl::StrCat("6f1c2d3e-0000-4000-8000-", 100000000000 + n);
  pod.spec.ns = "bench";
  pod.spec.name = absl::StrCat("pod-", n);
  pod.spec.labels = {{"app", absl::StrCat("app-", n % 20)}, {"pod-template-hash", "7d9f8b6c5"}};
  pod.spec.ips = {
      *IpAddress::Parse(absl::StrCat("10.", n / 65536, ".", n / 256 % 256, ".", n % 256)),
      *IpAddress::Parse(absl::StrCat("fd00::", n + 1))};
  pod.spec.netns_path = absl::StrCat("/run/netns/cni-", n);
  pod.spec.container_ports = {{"http", 8080, agent::Protocol::kTCP}};
  pod.spec.probe_ports = {8080};
  pod.generation = 1;
  pod.netns = {4, static_cast<uint64_t>(4026532000 + n)};
  return pod;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

std::string FileSystemOf(const std::string& dir) {
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) != 0) {
    return "?";
  }
  switch (fs.f_type) {
    case 0x01021994:
      return "tmpfs";
    case 0xEF53:
      return "ext4";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x794c7630:
      return "overlayfs";
    default:
      return absl::StrCat("0x", absl::Hex(fs.f_type));
  }
}

int Run(const std::string& parent) {
  std::string templ = parent + "/state_file_bench.XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    std::printf("%s: cannot create a directory there, skipped\n", parent.c_str());
    return 0;
  }
  const std::string dir = templ;
  const std::string path = dir + "/state";
  int rc = 0;
  {
    LoadedState loaded;
    absl::StatusOr<std::unique_ptr<StateFile>> file = StateFile::Open(path, &loaded);
    if (!file.ok()) {
      std::printf("%s: %s\n", parent.c_str(), std::string(file.status().message()).c_str());
      std::filesystem::remove_all(dir);
      return 1;
    }
    std::vector<JournaledPod> pods;
    for (int n = 0; n < kPods; ++n) {
      pods.push_back(BenchPod(n));
      if (absl::Status st = (*file)->Put(pods.back()); !st.ok()) {
        std::printf("put: %s\n", std::string(st.message()).c_str());
        rc = 1;
      }
    }
    std::vector<double> put_us;
    put_us.reserve(kMeasuredPuts);
    const int compactions_before = (*file)->compactions();
    for (int i = 0; i < kMeasuredPuts; ++i) {
      JournaledPod& pod = pods[(i * 7) % kPods];
      ++pod.generation;
      Clock::time_point start = Clock::now();
      absl::Status st = (*file)->Put(pod);
      put_us.push_back(Micros(Clock::now() - start));
      if (!st.ok()) {
        std::printf("put: %s\n", std::string(st.message()).c_str());
        rc = 1;
      }
    }
    std::printf(
        "%s (%s): %d Puts with %d pods: p50 %.0f us, p99 %.0f us, max %.0f us; %d compactions; "
        "file %zu bytes\n",
        parent.c_str(), FileSystemOf(dir).c_str(), kMeasuredPuts, kPods, Percentile(put_us, 0.50),
        Percentile(put_us, 0.99), Percentile(put_us, 1.0),
        (*file)->compactions() - compactions_before, (*file)->file_bytes());
  }
  Clock::time_point start = Clock::now();
  LoadedState loaded;
  absl::StatusOr<std::unique_ptr<StateFile>> reopened = StateFile::Open(path, &loaded);
  double open_ms = Micros(Clock::now() - start) / 1000;
  if (!reopened.ok() || loaded.pods.size() != kPods || !loaded.trustworthy) {
    std::printf("reopen lost pods\n");
    rc = 1;
  }
  std::printf("%s: Open with %zu pods (read, check, rewrite, fsync) %.1f ms\n", parent.c_str(),
              loaded.pods.size(), open_ms);
  std::filesystem::remove_all(dir);
  return rc;
}

}  // namespace
}  // namespace probesnat::daemon

int main(int argc, char** argv) {
  std::vector<std::string> dirs(argv + 1, argv + argc);
  if (dirs.empty()) {
    dirs = {"/run", "/dev/shm", "/var/tmp"};
  }
  int rc = 0;
  for (const std::string& dir : dirs) {
    rc |= probesnat::daemon::Run(dir);
  }
  return rc;
}
