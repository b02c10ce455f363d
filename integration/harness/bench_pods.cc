#include "integration/harness/bench_pods.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "integration/harness/enroll_client.h"

namespace probesnat::integration {

absl::StatusOr<BenchPods> CreateBenchPods(int n, const std::string& label, int octet) {
  BenchPods pods;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<netfilter::testing::ScopedNetns> ns =
        netfilter::testing::ScopedNetns::Create(absl::StrCat(label, i));
    if (!ns.ok()) {
      return ns.status();
    }
    const std::string v4 = absl::StrCat("10.", octet, ".", i / 250, ".", i % 250 + 1);
    const std::string v6 = absl::StrCat("fd00:", octet, "::", absl::Hex(i + 1));
    if (absl::Status st = netfilter::testing::Run(
            absl::StrCat("ip -n ", ns->name(), " addr add ", v4, "/32 dev lo"));
        !st.ok()) {
      return st;
    }
    pods.specs.push_back(MakePod(absl::StrFormat("%08x-0000-4000-8000-%012x", octet, i), {v4, v6},
                                 ns->path(), absl::StrCat(label, "-", i)));
    pods.namespaces.push_back(std::move(*ns));
  }
  return pods;
}

}  // namespace probesnat::integration
