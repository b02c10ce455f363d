#include "agent/cni/plugin.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/cni/attachment_store.h"
#include "agent/cni/cni_args.h"
#include "agent/cni/cni_error.h"
#include "agent/cni/cni_version.h"
#include "agent/cni/pod_selection.h"
#include "agent/cni/prev_result.h"
#include "agent/domain/error_reason.h"
#include "nlohmann/json.hpp"

namespace probesnat::cni {
namespace {

using json = nlohmann::ordered_json;

const std::set<std::string>& Commands() {
  static const std::set<std::string>* commands =
      new std::set<std::string>{"ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC"};
  return *commands;
}

bool IsTransient(const absl::Status& st) {
  return st.code() == absl::StatusCode::kUnavailable ||
         st.code() == absl::StatusCode::kDeadlineExceeded;
}

absl::Status AgentError(const PluginConfig& config, absl::string_view what,
                        const absl::Status& st) {
  const std::string details = absl::StrCat(absl::StatusCodeToString(st.code()), ": ",
                                           st.message(), " (socket ", config.socket, ")");
  return CniStatus(IsTransient(st) ? CniCode::kTryAgainLater : CniCode::kAgentFailed,
                   absl::StrCat("probesnatd did not ", what), details);
}

// A FAILED_PRECONDITION of Enroll, by the reason the agent gives (probesnat.v1.ErrorReason).
absl::Status RefusalError(const std::string& pod_name, const absl::Status& st) {
  const std::optional<agent::ErrorReason> reason = agent::ErrorReasonOf(st);
  if (reason == agent::ErrorReason::kPolicyRefused) {
    return CniStatus(CniCode::kPolicyRefused,
                     absl::StrCat("probesnatd's NetworkPolicy check refused pod ", pod_name,
                                  " (enforce mode); the details say why and how to fix it"),
                     st.message());
  }
  if (reason == agent::ErrorReason::kNetnsConflict) {
    return CniStatus(CniCode::kEnrollConflict,
                     absl::StrCat("the network namespace of pod ", pod_name,
                                  " is already enrolled for another pod"),
                     st.message());
  }
  if (reason == agent::ErrorReason::kIpConflict) {
    return CniStatus(
        CniCode::kEnrollConflict,
        absl::StrCat("an IP of pod ", pod_name, " is already enrolled for another pod"),
        st.message());
  }
  return CniStatus(CniCode::kAgentPrecondition,
                   absl::StrCat("probesnatd cannot enroll pod ", pod_name,
                                ": a precondition failed (FAILED_PRECONDITION)"),
                   st.message());
}

v1::PolicyMode PolicyModeOf(const std::string& mode) {
  if (mode == "off") return v1::POLICY_MODE_OFF;
  if (mode == "warn") return v1::POLICY_MODE_WARN;
  if (mode == "enforce") return v1::POLICY_MODE_ENFORCE;
  return v1::POLICY_MODE_UNSPECIFIED;
}

std::vector<std::string> AddressStrings(const PodAddresses& addresses) {
  std::vector<std::string> out;
  if (addresses.v4.has_value()) out.push_back(addresses.v4->ToString());
  if (addresses.v6.has_value()) out.push_back(addresses.v6->ToString());
  return out;
}

class Runner {
 public:
  Runner(const Invocation& inv, const PluginDeps& deps, Outcome& out)
      : inv_(inv), deps_(deps), out_(out) {}

  absl::Status Dispatch() {
    if (inv_.command == "VERSION") {
      out_.stdout_text = VersionJson(BestEffortVersion(inv_.stdin_bytes));
      return absl::OkStatus();
    }
    if (!Commands().contains(inv_.command)) {
      return CniStatus(CniCode::kInvalidEnvironment,
                       absl::StrCat("CNI_COMMAND \"", inv_.command.substr(0, 32),
                                    "\" is not one of ", absl::StrJoin(Commands(), ", ")));
    }
    absl::StatusOr<PluginConfig> config = ParsePluginConfig(inv_.stdin_bytes);
    if (!config.ok()) {
      return config.status();
    }
    config_ = *std::move(config);
    if (inv_.command == "STATUS" || inv_.command == "GC") {
      if (!HasStatusAndGc(config_.cni_version)) {
        return CniStatus(CniCode::kIncompatibleVersion,
                         absl::StrCat(inv_.command, " needs cniVersion 1.1.0, the configuration "
                                                    "says ", config_.cni_version));
      }
      return inv_.command == "STATUS" ? Status() : Gc();
    }
    if (absl::Status st = CheckAttachmentEnvironment(); !st.ok()) {
      return st;
    }
    if (inv_.command == "ADD") return Add();
    if (inv_.command == "DEL") return Del();
    return Check();
  }

 private:
  void Log(std::string line) { out_.log.push_back(std::move(line)); }

  std::string Who() const {
    return absl::StrCat("container ", inv_.container_id.substr(0, 12), " ifname ", inv_.ifname);
  }

  AttachmentStore Store() const { return AttachmentStore(config_.state_dir, config_.name); }

  AgentClient& Agent() {
    if (agent_ == nullptr) {
      agent_ = deps_.connect(config_);
    }
    return *agent_;
  }

  absl::Status CheckAttachmentEnvironment() const {
    if (!IsContainerId(inv_.container_id)) {
      return CniStatus(CniCode::kInvalidEnvironment,
                       "CNI_CONTAINERID is missing or not 1-128 of [A-Za-z0-9_.-]");
    }
    if (!IsInterfaceName(inv_.ifname)) {
      return CniStatus(CniCode::kInvalidEnvironment,
                       "CNI_IFNAME is missing or not an interface name");
    }
    if (inv_.command != "DEL" && (inv_.netns.empty() || inv_.netns[0] != '/')) {
      return CniStatus(CniCode::kInvalidEnvironment,
                       absl::StrCat("CNI_NETNS must be the absolute path of the sandbox's network "
                                    "namespace for ", inv_.command));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<PodIdentity> Identity() const {
    absl::StatusOr<std::map<std::string, std::string>> args = ParseCniArgs(inv_.args);
    if (!args.ok()) {
      return args.status();
    }
    return PodIdentityFromArgs(*args, inv_.container_id);
  }

  absl::Status RequirePrevResult() const {
    if (!config_.prev_result.has_value()) {
      return CniStatus(CniCode::kInvalidConfig, "missing prevResult",
                       "probesnat-cni is a chained plugin: list it in a conflist after the plugin "
                       "that gives the pod its interface and addresses (e.g. bridge)");
    }
    return absl::OkStatus();
  }

  absl::Status Add() {
    if (absl::Status st = RequirePrevResult(); !st.ok()) {
      return st;
    }
    absl::StatusOr<PodIdentity> pod = Identity();
    if (!pod.ok()) {
      return pod.status();
    }
    json result = *config_.prev_result;
    result["cniVersion"] = config_.cni_version;
    const std::string pod_name = absl::StrCat(pod->namespace_name, "/", pod->name);
    SelectionDecision decision = SelectPod(config_.selection, pod->namespace_name);
    if (!decision.enroll) {
      Log(absl::StrCat("ADD ", pod_name, " (", Who(), "): not enrolled: ", decision.reason));
      out_.stdout_text = result.dump();
      return absl::OkStatus();
    }
    absl::StatusOr<PodAddresses> addresses =
        PodAddressesFromPrevResult(*config_.prev_result, inv_.ifname);
    if (!addresses.ok()) {
      return addresses.status();
    }
    v1::Pod spec;
    spec.set_uid(pod->uid);
    spec.set_namespace_(pod->namespace_name);
    spec.set_name(pod->name);
    spec.set_netns_path(inv_.netns);
    for (const std::string& ip : AddressStrings(*addresses)) {
      spec.add_ips(ip);
    }
    // The record comes first: whatever happens next (a timeout after which the agent still
    // enrolls, a crash), the runtime's DEL finds the uid to unenroll.
    AttachmentRecord record{inv_.container_id, inv_.ifname, pod->uid, pod->namespace_name,
                            pod->name, inv_.netns, AddressStrings(*addresses), true};
    AttachmentStore store = Store();
    if (absl::Status st = store.Write(record); !st.ok()) {
      return CniStatus(CniCode::kIoFailure, "cannot record the attachment", st.message());
    }
    absl::Status st = Agent().Enroll(spec, PolicyModeOf(config_.policy_mode));
    if (st.ok()) {
      Log(absl::StrCat("ADD ", pod_name, " uid ", pod->uid, " (", Who(), "): enrolled ",
                       absl::StrJoin(record.ips, ",")));
      out_.stdout_text = result.dump();
      return absl::OkStatus();
    }
    if (st.code() == absl::StatusCode::kFailedPrecondition) {
      return RefusalError(pod_name, st);
    }
    if (st.code() == absl::StatusCode::kInvalidArgument) {
      return CniStatus(CniCode::kAgentRejected,
                       absl::StrCat("probesnatd rejected pod ", pod_name, " as invalid"),
                       st.message());
    }
    if (config_.failure_policy == FailurePolicy::kFailOpen) {
      record.enrolled = false;
      if (absl::Status w = store.Write(record); !w.ok()) {
        Log(absl::StrCat("ADD ", pod_name, ": cannot record the unenrolled start: ", w.message()));
      }
      Log(absl::StrCat("ADD ", pod_name, " uid ", pod->uid, " (", Who(),
                       "): failOpen: the pod starts WITHOUT the mesh rules: ",
                       absl::StatusCodeToString(st.code()), ": ", st.message()));
      out_.stdout_text = result.dump();
      return absl::OkStatus();
    }
    return AgentError(config_, absl::StrCat("enroll pod ", pod_name), st);
  }

  absl::Status Del() {
    AttachmentStore store = Store();
    absl::StatusOr<std::optional<AttachmentRecord>> record =
        store.Read(inv_.container_id, inv_.ifname);
    if (!record.ok()) {
      Log(absl::StrCat("DEL (", Who(), "): ", record.status().message(),
                       "; falling back to CNI_ARGS"));
      record = std::optional<AttachmentRecord>();
    }
    std::string uid;
    if (record->has_value()) {
      uid = (*record)->uid;
    } else {
      // No record: this plugin did not enroll the attachment (or its record was lost). Unenroll
      // by the uid the runtime names, best effort: nothing here proves an enrollment exists.
      absl::StatusOr<PodIdentity> pod = Identity();
      if (!pod.ok() || !SelectPod(config_.selection, pod->namespace_name).enroll) {
        return absl::OkStatus();
      }
      absl::StatusOr<bool> was = Agent().Unenroll(pod->uid);
      if (!was.ok()) {
        Log(absl::StrCat("DEL (", Who(), "): no record; Unenroll ", pod->uid, ": ",
                         was.status().message()));
      }
      return absl::OkStatus();
    }
    absl::StatusOr<bool> was = Agent().Unenroll(uid);
    if (!was.ok()) {
      if (config_.failure_policy == FailurePolicy::kFailOpen) {
        Log(absl::StrCat("DEL uid ", uid, " (", Who(), "): failOpen: probesnatd did not unenroll (",
                         was.status().message(), "); the record stays for GC"));
        return absl::OkStatus();
      }
      return AgentError(config_, absl::StrCat("unenroll pod uid ", uid), was.status());
    }
    if (absl::Status st = store.Remove(inv_.container_id, inv_.ifname); !st.ok()) {
      return CniStatus(CniCode::kIoFailure, "cannot remove the attachment record", st.message());
    }
    Log(absl::StrCat("DEL uid ", uid, " (", Who(), "): ",
                     *was ? "unenrolled" : "was not enrolled"));
    return absl::OkStatus();
  }

  absl::Status Check() {
    if (absl::Status st = RequirePrevResult(); !st.ok()) {
      return st;
    }
    absl::StatusOr<std::optional<AttachmentRecord>> record =
        Store().Read(inv_.container_id, inv_.ifname);
    if (!record.ok()) {
      return CniStatus(CniCode::kIoFailure, "cannot read the attachment record",
                       record.status().message());
    }
    if (!record->has_value()) {
      absl::StatusOr<PodIdentity> pod = Identity();
      if (!pod.ok()) {
        return pod.status();
      }
      if (!SelectPod(config_.selection, pod->namespace_name).enroll) {
        return absl::OkStatus();  // not meant to be enrolled: nothing to check
      }
      return CniStatus(CniCode::kCheckMismatch,
                       absl::StrCat("pod ", pod->namespace_name, "/", pod->name,
                                    " should be enrolled but ADD left no record for ", Who()));
    }
    const AttachmentRecord& r = **record;
    const std::string pod_name = absl::StrCat(r.namespace_name, "/", r.name);
    if (!r.enrolled) {
      return CniStatus(CniCode::kCheckMismatch,
                       absl::StrCat("pod ", pod_name, " started without the mesh rules"),
                       "ADD found probesnatd unavailable and failurePolicy is failOpen");
    }
    absl::StatusOr<v1::PodStatus> status = Agent().Get(r.uid);
    if (!status.ok()) {
      if (status.status().code() == absl::StatusCode::kNotFound) {
        return CniStatus(CniCode::kCheckMismatch,
                         absl::StrCat("probesnatd does not hold pod ", pod_name, " uid ", r.uid));
      }
      return AgentError(config_, absl::StrCat("answer Get for pod ", pod_name), status.status());
    }
    if (status->phase() != v1::POD_PHASE_APPLIED) {
      return CniStatus(CniCode::kCheckMismatch,
                       absl::StrCat("pod ", pod_name, " is not applied in probesnatd"),
                       absl::StrCat(v1::PodPhase_Name(status->phase()), ": ", status->reason()));
    }
    absl::StatusOr<PodAddresses> addresses =
        PodAddressesFromPrevResult(*config_.prev_result, inv_.ifname);
    if (!addresses.ok()) {
      return addresses.status();
    }
    std::vector<std::string> want = AddressStrings(*addresses);
    std::vector<std::string> have(status->pod().ips().begin(), status->pod().ips().end());
    std::sort(want.begin(), want.end());
    std::sort(have.begin(), have.end());
    if (want != have) {
      return CniStatus(CniCode::kCheckMismatch,
                       absl::StrCat("pod ", pod_name, " is enrolled with other addresses"),
                       absl::StrCat("prevResult: ", absl::StrJoin(want, ","),
                                    "; probesnatd: ", absl::StrJoin(have, ",")));
    }
    if (status->pod().netns_path() != inv_.netns) {
      return CniStatus(CniCode::kCheckMismatch,
                       absl::StrCat("pod ", pod_name, " is enrolled with another namespace"),
                       absl::StrCat("CNI_NETNS ", inv_.netns, "; probesnatd: ",
                                    status->pod().netns_path()));
    }
    absl::StatusOr<bool> table = deps_.probe->HasPodTable(inv_.netns);
    if (!table.ok()) {
      return CniStatus(CniCode::kIoFailure,
                       absl::StrCat("cannot read netfilter in ", inv_.netns),
                       table.status().message());
    }
    if (!*table) {
      return CniStatus(CniCode::kCheckMismatch,
                       absl::StrCat("table inet probesnat is missing from pod ", pod_name,
                                    "'s namespace ", inv_.netns),
                       "someone deleted it; probesnatd restores it at its next drift check");
    }
    return absl::OkStatus();
  }

  absl::Status Status() {
    absl::Status st = Agent().Health();
    if (st.ok()) {
      return absl::OkStatus();
    }
    if (config_.failure_policy == FailurePolicy::kFailOpen) {
      Log(absl::StrCat("STATUS: failOpen: probesnatd is not serving (", st.message(),
                       "); pods start without the mesh rules"));
      return absl::OkStatus();
    }
    return CniStatus(CniCode::kNotAvailable,
                     absl::StrCat("probesnatd is not serving on ", config_.socket), st.message());
  }

  absl::Status Gc() {
    AttachmentStore store = Store();
    absl::StatusOr<std::vector<AttachmentRecord>> records = store.List();
    if (!records.ok()) {
      return CniStatus(CniCode::kIoFailure, "cannot list attachment records",
                       records.status().message());
    }
    std::vector<std::string> failures;
    int removed = 0;
    for (const AttachmentRecord& r : *records) {
      const Attachment key{r.container_id, r.ifname};
      if (std::find(config_.valid_attachments.begin(), config_.valid_attachments.end(), key) !=
          config_.valid_attachments.end()) {
        continue;
      }
      absl::StatusOr<bool> was = Agent().Unenroll(r.uid);
      absl::Status st = was.ok() ? store.Remove(r.container_id, r.ifname) : was.status();
      if (!st.ok()) {
        failures.push_back(absl::StrCat(r.uid, ": ", st.message()));
        continue;
      }
      ++removed;
      Log(absl::StrCat("GC: ", r.namespace_name, "/", r.name, " uid ", r.uid, " (container ",
                       r.container_id.substr(0, 12), ") is gone: unenrolled"));
    }
    if (!failures.empty()) {
      return CniStatus(CniCode::kTryAgainLater,
                       absl::StrCat("GC could not unenroll ", failures.size(), " stale pod(s)"),
                       absl::StrJoin(failures, "; "));
    }
    Log(absl::StrCat("GC: ", records->size(), " record(s), ", removed, " stale removed"));
    return absl::OkStatus();
  }

  const Invocation& inv_;
  const PluginDeps& deps_;
  Outcome& out_;
  PluginConfig config_;
  std::unique_ptr<AgentClient> agent_;
};

}  // namespace

Outcome RunPlugin(const Invocation& invocation, const PluginDeps& deps) {
  Outcome out;
  absl::Status st = Runner(invocation, deps, out).Dispatch();
  if (!st.ok()) {
    CniError error = ToCniError(st);
    out.exit_code = 1;
    out.stdout_text = ErrorJson(BestEffortVersion(invocation.stdin_bytes), error);
    out.log.push_back(absl::StrCat(invocation.command.substr(0, 32), " failed: code ",
                                   static_cast<int>(error.code), ": ", error.msg,
                                   error.details.empty() ? "" : ": ", error.details));
  }
  return out;
}

}  // namespace probesnat::cni
