// libFuzzer: an Enroll request's pod, as protobuf bytes off the wire, through ValidatePod. The
// namespace opener and the node's addresses are fixed stand-ins (no file is opened), so what is
// fuzzed is the validation of every field and limit.
#include <cstddef>
#include <cstdint>

#include "agent/daemon/pod_validation.h"
#include "google/protobuf/stubs/logging.h"
#include "probesnat/v1/probesnat.pb.h"

namespace {

probesnat::daemon::ValidationOptions Options() {
  probesnat::daemon::ValidationOptions o;
  o.open_netns = [](const std::string&,
                    const std::string& path) -> absl::StatusOr<probesnat::netfilter::NetnsHandle> {
    if (path.size() % 3 == 0) {
      return absl::NotFoundError("gone");
    }
    return probesnat::netfilter::NetnsHandle{nullptr, probesnat::NetnsId{1, static_cast<uint64_t>(path.size())}, path};
  };
  o.node_addresses = []() -> absl::StatusOr<std::vector<probesnat::netfilter::InterfaceAddress>> {
    return std::vector<probesnat::netfilter::InterfaceAddress>{};
  };
  o.probe_addresses = {*probesnat::IpAddress::Parse("169.254.7.127"),
                       *probesnat::IpAddress::Parse("fd16:9254:7127:1337:ffff:ffff:ffff:ffff")};
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const probesnat::daemon::ValidationOptions options = Options();
  // Invalid UTF-8 in a string field is refused by parsing (as gRPC does); without the log line.
  static const bool quiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  probesnat::v1::Pod pod;
  if (!pod.ParseFromArray(data, static_cast<int>(size))) {
    return 0;
  }
  (void)probesnat::daemon::ValidatePod("pod", pod, options);
  return 0;
}
