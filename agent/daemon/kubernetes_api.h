#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace probesnat::daemon {

// How a pod reaches the Kubernetes API with its service account: the API server's URL, the file
// with the bearer token (re-read on every call: the kubelet rotates projected tokens) and the CA
// bundle that signs the server's certificate.
struct KubernetesApi {
  std::string base_url;  // https://host:port
  std::string token_file;
  std::string ca_file;
};

// `api_url` when it is not empty, else https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
// (what the kubelet sets in every container); token and CA are `credentials_dir`/token and
// /ca.crt. FAILED_PRECONDITION naming what is missing.
absl::StatusOr<KubernetesApi> InClusterApi(const std::string& api_url,
                                           const std::string& credentials_dir);

struct HttpAnswer {
  long status = 0;  // the HTTP status code
  std::string body;
};

// GET base_url + path with the bearer token, the server's certificate verified against ca_file,
// everything bounded by `timeout`. An error when no HTTP answer came (token unreadable, connect,
// TLS, timeout); any status code is an answer.
absl::StatusOr<HttpAnswer> KubernetesGet(const KubernetesApi& api, const std::string& path,
                                         absl::Duration timeout);

}  // namespace probesnat::daemon
