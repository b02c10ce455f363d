#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"

namespace probesnat {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as iSCSI, ext4 and SCTP use it:
// Crc32c("123456789") == 0xE3069283. `crc` continues an earlier value over more data:
// Crc32c(b, Crc32c(a)) == Crc32c(a + b).
uint32_t Crc32c(absl::string_view data, uint32_t crc = 0);

}  // namespace probesnat
