#include "agent/daemon/exit_decision.h"

#include <unistd.h>

#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/daemon/log_format.h"
#include "agent/daemon/uninstall_request.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {
namespace {

// A request's text as a log shows it: one line, escaped, bounded.
std::string Shown(const std::string& text) {
  return EscapeClientText(absl::StripAsciiWhitespace(text));
}

// `why`: the request's text, or what the API said of the DaemonSet.
void Uninstall(Reconciler& reconciler, const ExitPaths& paths, const std::string& why) {
  const std::string request_path = UninstallRequestPath(paths.run_dir);
  spdlog::info("uninstall ({}): removing every pod table and the host table", why);
  Reconciler::RemoveAllReport removed;
  if (absl::Status st = reconciler.RemoveAll(&removed); !st.ok()) {
    spdlog::error(
        "uninstall incomplete: removed {} pod tables, {} refused, host table {}: {}; the state "
        "file {} and the request {} stay (install-cni still removes the CNI entry); a later agent "
        "re-adopts what is left and discards the request, run probesnatctl uninstall again",
        removed.pods_removed, removed.pods_failed, removed.host_removed ? "removed" : "NOT removed",
        st.message(), paths.state_file, request_path);
    return;
  }
  std::string problems;
  if (absl::Status st = RemoveFileIfPresent(paths.state_file); !st.ok()) {
    absl::StrAppend(&problems, "; ", st.message());
  }
  // The record first, then the request: one of the two is always there for install-cni to see.
  const std::string record_path = UninstalledRecordPath(paths.run_dir);
  const std::string record = absl::StrCat(
      "uninstalled at ", absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone()),
      " by probesnatd pid ", ::getpid(), ": removed ", removed.pods_removed,
      " pod tables and the host table; why: ", why, "\n");
  if (absl::Status st = WriteFileAtomically(record_path, record); !st.ok()) {
    absl::StrAppend(&problems, "; ", st.message(), " (the request stays)");
  } else if (absl::Status rm = RemoveFileIfPresent(request_path); !rm.ok()) {
    absl::StrAppend(&problems, "; ", rm.message());
  }
  spdlog::info(
      "uninstall done: removed {} pod tables and the host table, deleted the state file {}; no "
      "pod on this node is captured any more{}",
      removed.pods_removed, paths.state_file, problems);
}

}  // namespace

void DiscardStaleUninstallFiles(const ExitPaths& paths) {
  const std::string request_path = UninstallRequestPath(paths.run_dir);
  absl::StatusOr<std::optional<std::string>> request = ReadUninstallFile(request_path);
  if (!request.ok() || request->has_value()) {
    absl::Status removed = RemoveFileIfPresent(request_path);
    spdlog::warn(
        "found an uninstall request at start ({}: \"{}\"): it was made for an earlier agent (whose "
        "uninstall did not finish, or which was replaced before it stopped); {}: this agent keeps "
        "its rules on SIGTERM unless probesnatctl uninstall is run again",
        request_path, request.ok() ? Shown(**request) : std::string(request.status().message()),
        removed.ok() ? "removed it" : absl::StrCat("could not remove it: ", removed.message()));
  }
  const std::string record_path = UninstalledRecordPath(paths.run_dir);
  absl::StatusOr<std::optional<std::string>> record = ReadUninstallFile(record_path);
  if (!record.ok() || record->has_value()) {
    absl::Status removed = RemoveFileIfPresent(record_path);
    spdlog::info("removed {} (\"{}\"), the record of an earlier uninstall{}", record_path,
                 record.ok() ? Shown(**record) : std::string(record.status().message()),
                 removed.ok() ? "" : absl::StrCat(": ", removed.message()));
  }
}

ExitAction ActOnExit(Reconciler& reconciler, const ExitPaths& paths, bool cleanup_on_exit,
                     DaemonSetObserver* daemonset) {
  const std::string request_path = UninstallRequestPath(paths.run_dir);
  absl::StatusOr<std::optional<std::string>> request = ReadUninstallFile(request_path);
  if (!request.ok()) {
    // Something unreadable is not a request anyone made with probesnatctl: keep the pods' traffic.
    spdlog::error("cannot read the uninstall request: {}; treating this stop as a restart",
                  request.status().message());
  } else if (request->has_value()) {
    Uninstall(reconciler, paths,
              absl::StrCat("requested in ", request_path, ": \"", Shown(**request), "\""));
    return ExitAction::kUninstall;
  }
  std::string api_says;
  if (daemonset != nullptr) {
    const DaemonSetObserver::Observation seen = daemonset->Observe();
    using State = DaemonSetObserver::State;
    if (seen.state == State::kGone || seen.state == State::kDeleting) {
      // Recorded as a request first, so that install-cni sees it even if the kernel refuses.
      absl::StatusOr<RecordedUninstallRequest> recorded = RecordUninstallRequest(
          paths.run_dir,
          absl::StrCat("requested by probesnatd pid ", ::getpid(), ": ", seen.detail, "\n"));
      if (!recorded.ok()) {
        spdlog::error("recording the uninstall request failed: {}", recorded.status().message());
      }
      Uninstall(reconciler, paths, seen.detail);
      return ExitAction::kUninstall;
    }
    api_says = absl::StrCat(seen.state == State::kPresent ? ", " : ", the API could not say: ",
                            seen.detail);
  }
  if (cleanup_on_exit) {
    Reconciler::RemoveAllReport removed;
    if (absl::Status st = reconciler.RemoveAll(&removed); st.ok()) {
      spdlog::info("cleanup on exit: removed every pod table ({}) and the host table",
                   removed.pods_removed);
    } else {
      spdlog::error("cleanup on exit incomplete: {}", st.message());
    }
    return ExitAction::kCleanup;
  }
  spdlog::info(
      "exiting; rules stay in place: no uninstall requested ({} absent{}) and cleanup-on-exit is "
      "off, so this stop is a restart or an upgrade (probesnatctl uninstall before the stop "
      "removes them)",
      request_path, api_says);
  return ExitAction::kKeep;
}

}  // namespace probesnat::daemon
