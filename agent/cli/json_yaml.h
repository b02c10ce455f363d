#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace probesnat::cli {

// Block-style YAML for a JSON value; multi-line strings become literal blocks.
std::string JsonToYaml(const nlohmann::ordered_json& j);

}  // namespace probesnat::cli
