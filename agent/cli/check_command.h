#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/policy/analysis.h"

namespace probesnat::cli {

struct CheckArgs {
  std::vector<std::string> clusters;
  std::vector<std::string> pods;      // "ns/name"
  std::string namespace_name;         // every pod of it (or, with selector, the matching ones)
  std::string selector;               // kubectl label selector syntax
  std::vector<int> probe_ports;       // probed on every subject, besides its manifest probes
  std::vector<std::string> enrolled;  // extra "ns/name" already in the mesh
  std::vector<std::string> enrolled_namespaces;
  std::string output = "text";  // text | json | yaml | fixes (only the corrected policies)
  std::string probe_v4 = "169.254.7.127";
  std::string probe_v6 = "fd16:9254:7127:1337:ffff:ffff:ffff:ffff";
  int tunnel_port = 15008;
};

inline constexpr int kExitCompatible = 0;
inline constexpr int kExitFindings = 1;
inline constexpr int kExitError = 2;

// `probesnatctl check`: 0 compatible, 1 findings (WARNING/ERROR), 2 error. With -o fixes, stdout
// holds only the corrected policies (empty with 0; with 1 every policy a finding names).
int RunCheck(const CheckArgs& args, std::ostream& out, std::ostream& err);

// -o of check: text, json, yaml or fixes.
bool ValidCheckOutput(absl::string_view output);
// `report` on `out` as -o `output` says (with -o fixes its notes and a summary on `err`); returns
// kExitCompatible or kExitFindings.
int PrintCheckReport(const policy::Report& report, absl::string_view output, std::ostream& out,
                     std::ostream& err);

}  // namespace probesnat::cli
