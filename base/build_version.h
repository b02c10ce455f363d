#ifndef PROBESNAT_BASE_BUILD_VERSION_H_
#define PROBESNAT_BASE_BUILD_VERSION_H_

namespace probesnat {

// The CMake project version, e.g. "0.1.0".
const char* ProjectVersion();

// `git describe --tags --always --dirty` of the source tree at build time ("" outside git).
const char* GitDescription();

// What --version prints: "0.1.0 (git f80bf88)", or "0.1.0" outside git.
const char* BuildVersion();

}  // namespace probesnat

#endif  // PROBESNAT_BASE_BUILD_VERSION_H_
