// probesnatctl: operator CLI for the probesnat NetworkPolicy engine and the node's uninstall.
#include <iostream>

#include <CLI/CLI.hpp>

#include "agent/cli/agent_check_command.h"
#include "agent/cli/agent_commands.h"
#include "agent/cli/check_command.h"
#include "agent/cli/eval_command.h"
#include "agent/cli/shell_completion.h"
#include "agent/cli/uninstall_command.h"
#include "base/build_version.h"

namespace {

int Run(int argc, char** argv) {
  using probesnat::cli::CheckArgs;
  using probesnat::cli::EvalArgs;
  CLI::App app{
      "probesnatctl: NetworkPolicy evaluation and mesh-compatibility checks, node uninstall",
      "probesnatctl"};
  app.set_version_flag("--version", std::string("probesnatctl ") + probesnat::BuildVersion());
  app.require_subcommand(1);

  CLI::App* policy = app.add_subcommand("policy", "NetworkPolicy tools");
  policy->require_subcommand(1);
  EvalArgs eval;
  bool no_node_exemption = false;
  CLI::App* eval_cmd = policy->add_subcommand(
      "eval", "Evaluate connections under upstream NetworkPolicy semantics (JSONL in, JSONL out)");
  eval_cmd->add_option("--cluster", eval.clusters, "Manifest file or directory (repeatable)")
      ->required();
  eval_cmd->add_option("--queries", eval.queries,
                       "JSONL file of {\"from\",\"to\",\"port\",\"protocol\"} (- for stdin)");
  eval_cmd->add_option("--from", eval.from, "Source: ns/pod or IP");
  eval_cmd->add_option("--to", eval.to, "Destination: ns/pod or IP");
  eval_cmd->add_option("--port", eval.port, "Destination port");
  eval_cmd->add_option("--protocol", eval.protocol, "TCP (default), UDP or SCTP");
  eval_cmd->add_flag("--no-node-exemption", no_node_exemption,
                     "Do not apply the upstream rule that a pod's own node may always reach it");

  CheckArgs check;
  probesnat::cli::AgentCheckArgs agent_check;
  bool check_agent = false;
  CLI::App* check_cmd = app.add_subcommand(
      "check",
      "Report what enrolling pods in the mesh breaks under the cluster's NetworkPolicies: those "
      "of manifest files (--cluster), or the running agent's own policy snapshot (--agent, for "
      "an enrolled pod's UID or the pods of -f FILE).\n"
      "Exit 0: compatible (-o fixes prints nothing); 1: findings (-o fixes prints their corrected "
      "policies); 2: error.\n"
      "  probesnatctl check --cluster <(kubectl get ns,pods,networkpolicies -A -o yaml) -n shop "
      "-o fixes | kubectl apply -f -\n"
      "  probesnatctl check --agent 3b0f6a52-1c2d-4e8f-9a01-5b6c7d8e9f0a\n"
      "  probesnatctl check --agent -f pod.yaml");
  CLI::Option* cluster_opt =
      check_cmd->add_option("--cluster", check.clusters, "Manifest file or directory (repeatable)");
  CLI::Option* agent_opt = check_cmd->add_flag(
      "--agent", check_agent,
      "Check against the running probesnatd's policy snapshot and enrolled pods (Policy.Check)");
  cluster_opt->excludes(agent_opt);
  std::vector<CLI::Option*> cluster_only = {
      check_cmd->add_option("--pod", check.pods, "ns/name of a pod to enroll (repeatable)"),
      check_cmd->add_option("--namespace,-n", check.namespace_name,
                            "Enroll every pod of a namespace"),
      check_cmd->add_option("--selector,-l", check.selector,
                            "Enroll pods matching a label selector"),
      check_cmd->add_option("--enrolled", check.enrolled,
                            "ns/name already in the mesh (repeatable)"),
      check_cmd->add_option("--enrolled-namespace", check.enrolled_namespaces,
                            "Namespace already in the mesh (repeatable)"),
      check_cmd->add_option("--probe-address-v4", check.probe_v4, "Probe SNAT address (IPv4)"),
      check_cmd->add_option("--probe-address-v6", check.probe_v6, "Probe SNAT address (IPv6)"),
      check_cmd->add_option("--tunnel-port", check.tunnel_port, "HBONE tunnel port")};
  std::vector<CLI::Option*> agent_only = {
      check_cmd->add_option("uid", agent_check.uids,
                            "--agent: UID of an enrolled pod (repeatable)"),
      check_cmd->add_option("--file,-f", agent_check.agent.file,
                            "--agent: file with the pod(s) to check, - for stdin (as enroll -f)"),
      check_cmd
          ->add_option("--socket", agent_check.agent.socket, "--agent: probesnatd's unix socket")
          ->capture_default_str(),
      check_cmd
          ->add_option("--timeout", agent_check.agent.timeout_seconds,
                       "--agent: seconds to wait for the agent")
          ->capture_default_str()};
  for (CLI::Option* o : cluster_only) {
    o->excludes(agent_opt);
  }
  for (CLI::Option* o : agent_only) {
    o->needs(agent_opt);
  }
  check_cmd->add_option("--probe-port", check.probe_ports,
                        "Port kubelet probes (repeatable; manifest probes are always included)");
  check_cmd->add_option("--output,-o", check.output,
                        "text (default), json, yaml, or fixes: only the corrected NetworkPolicies "
                        "as a YAML stream for `kubectl apply -f -` (summary on stderr)");

  probesnat::cli::UninstallArgs uninstall;
  CLI::App* uninstall_cmd = app.add_subcommand(
      "uninstall",
      "Request an uninstall of this node: when probesnatd stops next it removes every pod table, "
      "the node's table and its state file, and install-cni's stop removes the CNI conflist "
      "entry. Without a request (or the agent seeing its DaemonSet gone, "
      "--uninstall-with-daemonset) a stop is a restart or upgrade and everything stays. In a "
      "cluster: kubectl -n probesnat-system exec <pod> -c probesnatd -- probesnatctl uninstall "
      "(each node), then delete the DaemonSet. Exit 0 recorded (or already), 2 error.");
  uninstall_cmd
      ->add_option("--run-dir", uninstall.run_dir,
                   "The agent's run directory (its socket's directory)")
      ->capture_default_str();

  // Commands that ask the running agent over its socket.
  probesnat::cli::AgentArgs agent;
  auto agent_options = [&agent](CLI::App* cmd, bool with_output) {
    cmd->add_option("--socket", agent.socket, "probesnatd's unix socket")->capture_default_str();
    cmd->add_option("--timeout", agent.timeout_seconds, "Seconds to wait for the agent")
        ->capture_default_str();
    if (with_output) {
      cmd->add_option("--output,-o", agent.output, "table (default), wide, json or yaml");
    }
    return cmd;
  };
  CLI::App* status_cmd = agent_options(
      app.add_subcommand("status",
                         "The running agent: health, pods by phase, policy mode and snapshot. "
                         "Exit 0 SERVING, 1 not serving, 2 unreachable"),
      true);
  CLI::App* list_cmd = agent_options(
      app.add_subcommand("list", "Pods enrolled on this node, with phase and findings"), true);
  CLI::App* get_cmd = agent_options(
      app.add_subcommand("get", "One enrolled pod with its findings. Exit 1 when not enrolled"),
      true);
  get_cmd->add_option("uid", agent.uid, "The pod's UID")->required();
  CLI::App* unenroll_cmd = agent_options(
      app.add_subcommand("unenroll", "Remove a pod's rules (node and pod namespace)"), false);
  unenroll_cmd->add_option("uid", agent.uid, "The pod's UID")->required();
  CLI::App* enroll_cmd = agent_options(
      app.add_subcommand("enroll",
                         "Enroll the pods of a file (YAML or JSON in the API's field names: uid, "
                         "namespace, name, labels, ips, netns_path, container_ports, probe_ports). "
                         "Exit 0 applied, 1 refused or failed, 2 error"),
      true);
  enroll_cmd->add_option("--file,-f", agent.file, "File with the pod(s), - for stdin")->required();
  enroll_cmd->add_option("--policy-mode", agent.policy_mode,
                         "off, warn or enforce (default: the agent's; it may only tighten)");
  CLI::App* sync_cmd = agent_options(
      app.add_subcommand("sync",
                         "Make the file the node's whole desired set: its pods enrolled, every "
                         "other pod unenrolled. Exit 0 all applied, 1 some not, 2 error"),
      true);
  sync_cmd->add_option("--file,-f", agent.file, "File with the pods, - for stdin")->required();
  sync_cmd->add_option("--policy-mode", agent.policy_mode, "off, warn or enforce");
  CLI::App* watch_cmd = agent_options(
      app.add_subcommand("watch", "One line per pod change until Ctrl-C (exit 0)"), false);
  bool no_initial = false;
  watch_cmd->add_flag("--no-initial", no_initial, "Only changes, not the current state first");
  app.add_subcommand("version", "This probesnatctl's version")->callback([] {
    std::cout << "probesnatctl " << probesnat::BuildVersion() << "\n";
  });

  std::string shell;
  CLI::App* completion_cmd = app.add_subcommand(
      "completion",
      "Print the shell completion script: source <(probesnatctl completion bash), or save it in "
      "/etc/bash_completion.d/probesnatctl (zsh: source <(probesnatctl completion zsh))");
  completion_cmd->add_option("shell", shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (eval_cmd->parsed()) {
    eval.own_node_always_allowed = !no_node_exemption;
    return probesnat::cli::RunEval(eval, std::cin, std::cout, std::cerr);
  }
  if (check_cmd->parsed() && check_agent) {
    agent_check.probe_ports = check.probe_ports;
    agent_check.output = check.output;
    return probesnat::cli::RunAgentCheck(agent_check, std::cout, std::cerr);
  }
  if (check_cmd->parsed()) {
    if (check.clusters.empty()) {
      std::cerr << "probesnatctl: check needs --cluster FILE (manifests) or --agent (the running "
                   "agent's snapshot)\n";
      return 2;
    }
    return probesnat::cli::RunCheck(check, std::cout, std::cerr);
  }
  if (status_cmd->parsed()) {
    return probesnat::cli::RunStatus(agent, std::cout, std::cerr);
  }
  if (list_cmd->parsed()) {
    return probesnat::cli::RunList(agent, std::cout, std::cerr);
  }
  if (get_cmd->parsed()) {
    return probesnat::cli::RunGet(agent, std::cout, std::cerr);
  }
  if (enroll_cmd->parsed()) {
    return probesnat::cli::RunEnroll(agent, std::cout, std::cerr);
  }
  if (sync_cmd->parsed()) {
    return probesnat::cli::RunSync(agent, std::cout, std::cerr);
  }
  if (watch_cmd->parsed()) {
    agent.initial_state = !no_initial;
    return probesnat::cli::RunWatch(agent, std::cout, std::cerr);
  }
  if (app.got_subcommand("version")) {
    return 0;
  }
  if (completion_cmd->parsed()) {
    const probesnat::cli::CompletionHints hints = {
        {"--output", {{"table", "wide", "json", "yaml"}}},
        {"check --output", {{"text", "json", "yaml", "fixes"}}},
        {"--policy-mode", {{"off", "warn", "enforce"}}},
        {"--protocol", {{"TCP", "UDP", "SCTP"}}},
        {"completion shell", {{"bash", "zsh"}}},
        {"--file", {{}, true}},
        {"--cluster", {{}, true}},
        {"--queries", {{}, true}},
        {"--socket", {{}, true}},
        {"--run-dir", {{}, true}},
    };
    std::cout << (shell == "zsh" ? probesnat::cli::ZshCompletionScript(app, hints)
                                 : probesnat::cli::BashCompletionScript(app, hints));
    return 0;
  }
  if (unenroll_cmd->parsed()) {
    return probesnat::cli::RunUnenroll(agent, std::cout, std::cerr);
  }
  if (uninstall_cmd->parsed()) {
    return probesnat::cli::RunUninstall(uninstall, std::cout, std::cerr);
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "probesnatctl: " << e.what() << "\n";
    return 2;
  }
}
