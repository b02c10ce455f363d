#include "agent/client/health_check.h"

#include <future>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"

namespace probesnat::client {

absl::StatusOr<int> QueryHealth(const std::shared_ptr<grpc::Channel>& channel, absl::Time deadline,
                                const std::string& bearer_token) {
  // HealthCheckRequest{service: ""} encodes to zero bytes; the response is field 1 (status,
  // varint). A generic call spares the clients the health proto's descriptors.
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(deadline));
  if (!bearer_token.empty()) {
    ctx.AddMetadata("authorization", "Bearer " + bearer_token);
  }
  grpc::Slice empty;
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  grpc::Status st = done.get_future().get();
  if (!st.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                        absl::StrCat("health check: ", st.error_message()));
  }
  std::vector<grpc::Slice> slices;
  (void)response.Dump(&slices);
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  if (bytes.empty()) {
    return 0;  // UNKNOWN (the default value is not encoded)
  }
  if (bytes.size() >= 2 && bytes[0] == 0x08) {
    return static_cast<int>(static_cast<unsigned char>(bytes[1]));
  }
  return absl::InternalError("health check: unexpected response encoding");
}

}  // namespace probesnat::client
