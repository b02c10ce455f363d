#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "agent/policy/analysis.h"

namespace probesnat::cli {

// {"compatible", "subjects", "notes", "findings": [...], "fixes": [{"namespace","name","yaml"}]}
nlohmann::ordered_json ReportToJson(const policy::Report& report);
std::string ReportToText(const policy::Report& report);
// The corrected policies as one multi-document YAML stream (`---` before each document) for
// `kubectl apply -f -`; empty when nothing needs fixing.
std::string FixesToYamlStream(const policy::Report& report);

}  // namespace probesnat::cli
