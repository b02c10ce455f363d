// probesnat_connect: opens one TCP connection from the current network namespace and prints both
// ends.
//
//   probesnat_connect [--mark 0x539] [--timeout SECONDS] IP PORT
//
// Prints "connected local=IP:PORT peer=IP:PORT" and exits 0, or prints the error and exits 1.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fcntl.h>

#include "absl/strings/numbers.h"
#include "integration/harness/sockets.h"

using probesnat::integration::Connect;
using probesnat::integration::ConnectOptions;
using probesnat::integration::Endpoint;

int main(int argc, char** argv) {
  ConnectOptions options;
  std::string ip;
  uint32_t port = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--mark" && i + 1 < argc) {
      options.mark = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 0));
    } else if (arg == "--timeout" && i + 1 < argc) {
      double s = 0;
      if (!absl::SimpleAtod(argv[++i], &s)) {
        return 2;
      }
      options.timeout = absl::Seconds(s);
    } else if (ip.empty()) {
      ip = arg;
    } else if (port == 0) {
      if (!absl::SimpleAtoi(arg, &port) || port == 0 || port > 65535) {
        return 2;
      }
    } else {
      ip.clear();
      break;
    }
  }
  if (ip.empty() || port == 0) {
    std::fprintf(stderr, "usage: probesnat_connect [--mark MARK] [--timeout SECONDS] IP PORT\n");
    return 2;
  }
  probesnat::UniqueFd self(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  absl::StatusOr<probesnat::integration::Connection> c =
      Connect(self.get(), Endpoint{ip, static_cast<uint16_t>(port)}, options);
  if (!c.ok()) {
    std::printf("failed %s\n", c.status().ToString().c_str());
    return 1;
  }
  std::printf("connected local=%s peer=%s\n", c->local.ToString().c_str(),
              c->peer.ToString().c_str());
  return 0;
}
