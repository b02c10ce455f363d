#pragma once

#include <atomic>

#include "absl/time/time.h"
#include "agent/daemon/daemon_observer.h"
#include "agent/daemon/pod_validation.h"
#include "agent/daemon/policy_admission.h"
#include "agent/daemon/reconciler.h"
#include "agent/policy_gate.h"
#include "probesnat/v1/probesnat.grpc.pb.h"

namespace probesnat::daemon {

struct EnrollmentServiceOptions {
  ValidationOptions validation;
  PolicyMode policy_mode = PolicyMode::kWarn;           // when a request leaves it unspecified
  const agent::PolicyGate* policy_gate = nullptr;       // null: the policy check finds nothing
  absl::Duration watch_poll = absl::Milliseconds(200);  // how often Watch notices a cancel
  DaemonObserver* observer = nullptr;                   // null: no metrics
  // Watch streams open at once; one more is RESOURCE_EXHAUSTED (each holds a server thread).
  int max_watch_streams = 32;
};

// probesnat.v1.Enrollment: request → validation → policy check → Reconciler; absl errors become
// gRPC status codes here and nowhere else. Every Enroll/Unenroll/Sync is logged with its latency.
class EnrollmentService final : public v1::Enrollment::Service {
 public:
  EnrollmentService(Reconciler& reconciler, EnrollmentServiceOptions options);

  grpc::Status Enroll(grpc::ServerContext* ctx, const v1::EnrollRequest* req,
                      v1::EnrollResponse* resp) override;
  grpc::Status Unenroll(grpc::ServerContext* ctx, const v1::UnenrollRequest* req,
                        v1::UnenrollResponse* resp) override;
  grpc::Status Sync(grpc::ServerContext* ctx, const v1::SyncRequest* req,
                    v1::SyncResponse* resp) override;
  grpc::Status List(grpc::ServerContext* ctx, const v1::ListRequest* req,
                    v1::ListResponse* resp) override;
  grpc::Status Get(grpc::ServerContext* ctx, const v1::GetRequest* req,
                   v1::PodStatus* resp) override;
  grpc::Status Watch(grpc::ServerContext* ctx, const v1::WatchRequest* req,
                     grpc::ServerWriter<v1::Event>* writer) override;

 private:
  // Tells the observer (if any) how a call ended.
  void Observe(DaemonObserver::Operation op, const absl::Status& st, absl::Duration took) const;
  void ObserveFailure(DaemonObserver::Failure reason) const;

  Reconciler& reconciler_;
  const EnrollmentServiceOptions options_;
  std::atomic<int> watch_streams_{0};
};

}  // namespace probesnat::daemon
