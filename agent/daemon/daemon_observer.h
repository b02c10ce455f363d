#pragma once

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace probesnat::daemon {

struct ResyncReport;

// What the daemon reports as it works, for its metrics (daemon_metrics.h). Every call is cheap and
// never blocks; a null observer means metrics are off. Called from gRPC and drift-check threads.
class DaemonObserver {
 public:
  enum class Operation { kEnroll, kUnenroll, kSync };
  // Why an enrollment did not reach APPLIED.
  enum class Failure {
    kInvalidArgument,  // validation refused the request
    kPolicyRefused,    // the policy check refused it (enforce)
    kConflict,         // an address or namespace held by another pod
    kNetns,            // the namespace could not be opened
    kKernel,           // the kernel refused a transaction
    kNotApplied,       // one pod of a Sync not applied (the reason is in its status)
    kOther,
  };
  enum class NetnsKind { kHost, kPod };

  virtual ~DaemonObserver() = default;

  // One Enroll/Unenroll/Sync call: its result and how long it took inside the agent.
  virtual void OnRequest(Operation op, absl::StatusCode code, absl::Duration took) = 0;
  virtual void OnEnrollFailure(Failure reason) = 0;
  // One mutating kernel transaction (timed_backend.h).
  virtual void OnKernelTransaction(NetnsKind kind, absl::Duration took, bool ok) = 0;
  // What one drift check repaired.
  virtual void OnDriftCheck(const ResyncReport& report) = 0;
  // One durable write of the state file (a pod recorded or erased; timed_journal.h).
  virtual void OnStateWrite(absl::Duration took, bool ok) = 0;
};

// The failure a validation error stands for: the request's fault, or the agent could not open a
// valid namespace path (a missing privilege, a transient error: pod_validation.h).
inline DaemonObserver::Failure FailureOfValidationError(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
      return DaemonObserver::Failure::kInvalidArgument;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
      return DaemonObserver::Failure::kNetns;
    default:
      return DaemonObserver::Failure::kOther;
  }
}

// The failure an Enroll's error status stands for (after validation and the policy check).
inline DaemonObserver::Failure FailureOfEnrollError(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kFailedPrecondition:
      return DaemonObserver::Failure::kConflict;
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kInvalidArgument:
      return DaemonObserver::Failure::kNetns;
    case absl::StatusCode::kUnavailable:
      return DaemonObserver::Failure::kKernel;
    default:
      return DaemonObserver::Failure::kOther;
  }
}

}  // namespace probesnat::daemon
