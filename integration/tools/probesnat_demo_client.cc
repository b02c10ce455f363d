// probesnat_demo_client: a minimal Enrollment client for the demo and for manual checks.
//
//   probesnat_demo_client enroll   --socket PATH --uid UID --ip IP [--ip IP] --netns PATH [--name
//   NAME] probesnat_demo_client unenroll --socket PATH --uid UID probesnat_demo_client list
//   --socket PATH probesnat_demo_client health   --socket PATH
//
// Exits 0 on success; prints the gRPC status and exits 1 otherwise.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "integration/harness/daemon.h"
#include "integration/harness/enroll_client.h"

namespace pi = probesnat::integration;

namespace {

int Usage() {
  std::fprintf(
      stderr,
      "usage: probesnat_demo_client enroll --socket PATH --uid UID --ip IP [--ip IP] --netns PATH "
      "[--name NAME]\n"
      "       probesnat_demo_client unenroll --socket PATH --uid UID\n"
      "       probesnat_demo_client list|health --socket PATH\n");
  return 2;
}

const char* PhaseName(probesnat::v1::PodPhase p) {
  switch (p) {
    case probesnat::v1::POD_PHASE_PENDING:
      return "pending";
    case probesnat::v1::POD_PHASE_APPLIED:
      return "applied";
    case probesnat::v1::POD_PHASE_FAILED:
      return "failed";
    case probesnat::v1::POD_PHASE_REMOVED:
      return "removed";
    default:
      return "unspecified";
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    return Usage();
  }
  const std::string command = argv[1];
  std::string socket, uid, netns, name = "demo";
  std::vector<std::string> ips;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--socket") {
      socket = value;
    } else if (flag == "--uid") {
      uid = value;
    } else if (flag == "--ip") {
      ips.push_back(value);
    } else if (flag == "--netns") {
      netns = value;
    } else if (flag == "--name") {
      name = value;
    } else {
      return Usage();
    }
  }
  if (socket.empty() || argc % 2 != 0) {
    return Usage();
  }
  auto channel = grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());
  auto stub = probesnat::v1::Enrollment::NewStub(channel);

  if (command == "health") {
    absl::StatusOr<int> h = pi::HealthCheck(channel, absl::Seconds(5));
    if (!h.ok()) {
      std::printf("health: %s\n", h.status().ToString().c_str());
      return 1;
    }
    std::printf("health: %s\n", *h == 1 ? "SERVING" : "NOT SERVING");
    return *h == 1 ? 0 : 1;
  }
  if (command == "enroll") {
    if (uid.empty() || netns.empty() || ips.empty()) {
      return Usage();
    }
    probesnat::v1::EnrollResponse resp;
    grpc::Status st = pi::Enroll(*stub, pi::MakePod(uid, ips, netns, name), &resp);
    if (!st.ok()) {
      std::printf("enroll %s: %s\n", uid.c_str(), pi::Describe(st).c_str());
      return 1;
    }
    std::printf("enroll %s: %s (generation %llu)%s%s\n", uid.c_str(),
                PhaseName(resp.status().phase()),
                static_cast<unsigned long long>(resp.status().generation()),
                resp.status().reason().empty() ? "" : " reason: ", resp.status().reason().c_str());
    for (const auto& f : resp.status().findings()) {
      std::printf("  finding: %s\n", f.message().c_str());
    }
    return 0;
  }
  if (command == "unenroll") {
    if (uid.empty()) {
      return Usage();
    }
    probesnat::v1::UnenrollResponse resp;
    grpc::Status st = pi::Unenroll(*stub, uid, &resp);
    if (!st.ok()) {
      std::printf("unenroll %s: %s\n", uid.c_str(), pi::Describe(st).c_str());
      return 1;
    }
    std::printf("unenroll %s: %s\n", uid.c_str(),
                resp.was_enrolled() ? "removed" : "was not enrolled");
    return 0;
  }
  if (command == "list") {
    probesnat::v1::ListResponse resp;
    grpc::Status st = pi::List(*stub, &resp);
    if (!st.ok()) {
      std::printf("list: %s\n", pi::Describe(st).c_str());
      return 1;
    }
    for (const auto& s : resp.pods()) {
      std::printf("%s %s/%s %s", s.pod().uid().c_str(), s.pod().namespace_().c_str(),
                  s.pod().name().c_str(), PhaseName(s.phase()));
      for (const std::string& ip : s.pod().ips()) {
        std::printf(" %s", ip.c_str());
      }
      std::printf("\n");
    }
    return 0;
  }
  return Usage();
}
