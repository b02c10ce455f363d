#include "agent/daemon/kubernetes_api.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace probesnat::daemon {
namespace {

constexpr size_t kMaxBody = 1 << 20;  // a DaemonSet object is a few KiB

bool IsFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  std::string& body = *static_cast<std::string*>(out);
  const size_t n = size * count;
  if (body.size() + n > kMaxBody) {
    return 0;  // libcurl ends the transfer with CURLE_WRITE_ERROR
  }
  body.append(data, n);
  return n;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

absl::StatusOr<KubernetesApi> InClusterApi(const std::string& api_url,
                                           const std::string& credentials_dir) {
  KubernetesApi api;
  api.base_url = api_url;
  if (api.base_url.empty()) {
    const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
    const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
    if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0') {
      return absl::FailedPreconditionError(
          "no Kubernetes API: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set (not "
          "in a pod?) and kubernetes-api is empty");
    }
    const std::string h = host;
    api.base_url =
        absl::StrCat("https://", h.find(':') == std::string::npos ? h : "[" + h + "]", ":", port);
  }
  api.token_file = credentials_dir + "/token";
  api.ca_file = credentials_dir + "/ca.crt";
  for (const std::string* f : {&api.token_file, &api.ca_file}) {
    if (!IsFile(*f)) {
      return absl::FailedPreconditionError(
          absl::StrCat("no service account credentials: ", *f, " is not a file"));
    }
  }
  return api;
}

absl::StatusOr<HttpAnswer> KubernetesGet(const KubernetesApi& api, const std::string& path,
                                         absl::Duration timeout) {
  std::ifstream in(api.token_file);
  std::stringstream token;
  token << in.rdbuf();
  const std::string bearer(absl::StripAsciiWhitespace(token.str()));
  if (!in || bearer.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read the token ", api.token_file));
  }
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (curl == nullptr) {
    return absl::InternalError("curl_easy_init failed");
  }
  const std::string auth = absl::StrCat("Authorization: Bearer ", bearer);
  std::unique_ptr<curl_slist, SlistDeleter> headers(
      curl_slist_append(curl_slist_append(nullptr, auth.c_str()), "Accept: application/json"));
  const std::string url = api.base_url + path;
  const long ms = static_cast<long>(absl::ToInt64Milliseconds(timeout));
  HttpAnswer answer;
  char error[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_CAINFO, api.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer.body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  if (CURLcode rc = curl_easy_perform(c); rc != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat("GET ", url, ": ", error[0] != '\0' ? error : curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &answer.status);
  return answer;
}

}  // namespace probesnat::daemon
