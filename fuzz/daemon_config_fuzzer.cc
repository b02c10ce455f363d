// libFuzzer: probesnatd's configuration file (--config) through ParseDaemonConfig, with no flags
// and no environment. The text is handed over as a memfd, so nothing is written to disk.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/daemon/daemon_config.h"
#include "base/unique_fd.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  probesnat::UniqueFd file(::memfd_create("probesnat-fuzz-config", MFD_CLOEXEC));
  if (!file.valid() || ::write(file.get(), data, size) != static_cast<ssize_t>(size)) {
    __builtin_trap();
  }
  const std::string path = absl::StrCat("/proc/self/fd/", file.get());
  (void)probesnat::daemon::ParseDaemonConfig(
      {"probesnatd", "--config", path},
      [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
  return 0;
}
