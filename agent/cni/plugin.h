#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/cni/agent_client.h"
#include "agent/cni/plugin_config.h"

namespace probesnat::cni {

// One execution of the plugin as the runtime makes it: the CNI_* environment and stdin.
struct Invocation {
  std::string command;       // CNI_COMMAND
  std::string container_id;  // CNI_CONTAINERID
  std::string netns;         // CNI_NETNS
  std::string ifname;        // CNI_IFNAME
  std::string args;          // CNI_ARGS
  std::string path;          // CNI_PATH (probesnat-cni execs nothing, so it is not used)
  std::string stdin_bytes;   // the network configuration
};

// What the plugin answers: the exit code, stdout (a result, a version document, a CNI error, or
// nothing) and lines for stderr (the runtime's log).
struct Outcome {
  int exit_code = 0;
  std::string stdout_text;
  std::vector<std::string> log;
};

struct PluginDeps {
  // Makes the client to probesnatd for a parsed configuration (socket, timeout).
  std::function<std::unique_ptr<AgentClient>(const PluginConfig&)> connect;
  PodTableProbe* probe = nullptr;
};

// The whole plugin: ADD, DEL, CHECK, VERSION, STATUS, GC (README.md beside this file).
Outcome RunPlugin(const Invocation& invocation, const PluginDeps& deps);

}  // namespace probesnat::cni
