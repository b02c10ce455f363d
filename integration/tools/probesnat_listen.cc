// probesnat_listen: accepts TCP connections on the given ports in the current network namespace and
// prints, for each, who connected, where it landed and where it was originally going (conntrack).
//
//   probesnat_listen [--count N] [--timeout SECONDS] NAME=PORT ...
//   e.g. ip netns exec pod-a probesnat_listen app=8080 tunnel=15008 inbound=15006
//
// Prints "listening NAME=PORT ..." once every socket is bound, then one line per connection:
//   accepted NAME port=PORT peer=IP:PORT local=IP:PORT original-dst=IP:PORT|none
// Exits 0 after --count connections (default: run until --timeout, default 30 s), 1 on error.
#include <fcntl.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "integration/harness/sockets.h"

using probesnat::integration::Accepted;
using probesnat::integration::Listener;

namespace {

int Usage() {
  std::fprintf(stderr, "usage: probesnat_listen [--count N] [--timeout SECONDS] NAME=PORT ...\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int count = 0;
  double timeout_s = 30;
  std::vector<std::pair<std::string, uint16_t>> wanted;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--count" && i + 1 < argc) {
      if (!absl::SimpleAtoi(argv[++i], &count)) {
        return Usage();
      }
    } else if (arg == "--timeout" && i + 1 < argc) {
      if (!absl::SimpleAtod(argv[++i], &timeout_s)) {
        return Usage();
      }
    } else {
      std::vector<std::string> kv = absl::StrSplit(arg, absl::MaxSplits('=', 1));
      uint32_t port = 0;
      if (kv.size() != 2 || !absl::SimpleAtoi(kv[1], &port) || port == 0 || port > 65535) {
        return Usage();
      }
      wanted.emplace_back(kv[0], static_cast<uint16_t>(port));
    }
  }
  if (wanted.empty()) {
    return Usage();
  }
  probesnat::UniqueFd self(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  std::vector<Listener> listeners;
  for (const auto& [name, port] : wanted) {
    absl::StatusOr<Listener> l = Listener::Create(self.get(), port);
    if (!l.ok()) {
      std::fprintf(stderr, "probesnat_listen: %s=%u: %s\n", name.c_str(), port,
                   l.status().ToString().c_str());
      return 1;
    }
    listeners.push_back(std::move(*l));
  }
  std::printf("listening");
  for (const auto& [name, port] : wanted) {
    std::printf(" %s=%u", name.c_str(), port);
  }
  std::printf("\n");
  std::fflush(stdout);

  const absl::Time deadline = absl::Now() + absl::Seconds(timeout_s);
  int seen = 0;
  while (absl::Now() < deadline && (count == 0 || seen < count)) {
    for (size_t i = 0; i < listeners.size(); ++i) {
      if (!listeners[i].HasPending()) {
        continue;
      }
      absl::StatusOr<Accepted> a = listeners[i].Accept(absl::Milliseconds(10));
      if (!a.ok()) {
        continue;
      }
      std::printf("accepted %s port=%u peer=%s local=%s original-dst=%s\n", wanted[i].first.c_str(),
                  wanted[i].second, a->peer.ToString().c_str(), a->local.ToString().c_str(),
                  a->original_dst ? a->original_dst->ToString().c_str() : "none");
      std::fflush(stdout);
      ++seen;
    }
    // Wait briefly on all of them.
    for (Listener& l : listeners) {
      if (l.HasPending(absl::Milliseconds(20 / static_cast<int>(listeners.size()) + 1))) {
        break;
      }
    }
  }
  return (count == 0 || seen >= count) ? 0 : 1;
}
