#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct MHD_Daemon;

namespace probesnat::metrics {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Answers GET (and HEAD) of one path; runs on the server's thread.
using HttpHandler = std::function<HttpResponse()>;

struct HttpServerOptions {
  // "127.0.0.1:9464", "[::1]:9464"; an IP literal, port 0 picks a free port.
  std::string listen;
  std::map<std::string, HttpHandler> routes;  // by exact path, query string ignored
  absl::Duration idle_timeout = absl::Seconds(10);  // a connection silent this long is closed
  unsigned max_connections = 32;
  size_t max_request_bytes = 16 * 1024;  // request line and headers; more is refused
};

// A small HTTP/1.1 server (GNU libmicrohttpd, one internal thread) for /metrics and health
// endpoints: GET and HEAD of the configured paths (404 for others, 405 for other methods), no
// request bodies, bounded request size, connection count and idle time. Stops in the destructor.
class HttpServer {
 public:
  // INVALID_ARGUMENT for an address that is not ip:port, UNAVAILABLE when it cannot listen.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }

 private:
  friend struct HttpServerAccess;  // the libmicrohttpd callbacks in http_server.cc
  explicit HttpServer(HttpServerOptions options) : options_(std::move(options)) {}

  const HttpServerOptions options_;
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
};

}  // namespace probesnat::metrics
