#pragma once

#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "agent/policy/model.h"

namespace probesnat::policy {

// A field of one object that could not be accepted, e.g. {"spec.ingress[0].from[1].ipBlock.cidr",
// "\"10.0.0.0/33\" has an invalid prefix length"}.
struct FieldProblem {
  std::string field;
  std::string message;
};

// Each parser returns nullopt (and appends to `problems`) when the object is invalid. They never
// throw: yaml-cpp conversion errors are turned into problems.
std::optional<Namespace> ParseNamespace(const YAML::Node& obj, std::vector<FieldProblem>* problems);
std::optional<Pod> ParsePod(const YAML::Node& obj, std::vector<FieldProblem>* problems);
std::optional<NetworkPolicy> ParseNetworkPolicy(const YAML::Node& obj,
                                                std::vector<FieldProblem>* problems);
// spec-level helper shared with the tests: a metav1.LabelSelector at `field`.
std::optional<LabelSelector> ParseLabelSelector(const YAML::Node& node, const std::string& field,
                                                std::vector<FieldProblem>* problems);

}  // namespace probesnat::policy
