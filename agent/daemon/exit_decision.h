#pragma once

#include <string>

#include "agent/daemon/daemonset_observer.h"
#include "agent/daemon/reconciler.h"

namespace probesnat::daemon {

// What a stopping agent does with its rules (agent/daemon/README.md, "Upgrade or uninstall").
enum class ExitAction {
  kKeep,       // a restart or an upgrade: tables and state file stay for the next agent
  kCleanup,    // --cleanup-on-exit: every table removed, the state file stays
  kUninstall,  // an uninstall was requested (probesnatctl uninstall): tables, state file, request
               // go
};

// Where the stopping agent looks: its run directory (the socket's directory) and its state file.
struct ExitPaths {
  std::string run_dir;
  std::string state_file;
};

// At start, once the agent serves: an uninstall request found now was made for an earlier agent
// (that agent's uninstall did not finish, or it was replaced before it stopped), so it is removed
// with a warning and this agent keeps its rules until a new request; an old "uninstalled" record
// is removed too. Both are logged.
void DiscardStaleUninstallFiles(const ExitPaths& paths);

// At SIGTERM/SIGINT, after the server stopped: a request in the run directory → uninstall; else,
// with a `daemonset` observer, that DaemonSet gone or being deleted → uninstall; else
// `cleanup_on_exit` → cleanup; else keep (also when the API cannot say). Logs the decision and
// why, then acts on it; an uninstall that the kernel refuses part-way keeps the state file and
// the request (install-cni still sees it). Returns what it decided.
ExitAction ActOnExit(Reconciler& reconciler, const ExitPaths& paths, bool cleanup_on_exit,
                     DaemonSetObserver* daemonset = nullptr);

}  // namespace probesnat::daemon
