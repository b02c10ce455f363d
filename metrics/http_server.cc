#include "metrics/http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace probesnat::metrics {

struct HttpServerAccess {
  static MHD_Result Queue(MHD_Connection* connection, const HttpResponse& r, bool head) {
    MHD_Response* response = MHD_create_response_from_buffer(
        head ? 0 : r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
    if (response == nullptr) {
      return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_Result queued = MHD_queue_response(connection, r.status, response);
    MHD_destroy_response(response);
    return queued;
  }

  static MHD_Result Handle(void* cls, MHD_Connection* connection, const char* url,
                           const char* method, const char* version, const char* upload_data,
                           size_t* upload_data_size, void** con_cls) {
    const HttpServer& server = *static_cast<const HttpServer*>(cls);
    const bool get = std::strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    const bool head = std::strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (!get && !head) {
      // Answered before any body is read; the connection closes after the reply.
      HttpResponse r{.status = MHD_HTTP_METHOD_NOT_ALLOWED, .body = "only GET and HEAD\n"};
      MHD_Response* response = MHD_create_response_from_buffer(
          r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
      if (response == nullptr) {
        return MHD_NO;
      }
      MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
      MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
      MHD_Result queued = MHD_queue_response(connection, r.status, response);
      MHD_destroy_response(response);
      return queued;
    }
    if (*upload_data_size != 0) {
      return MHD_NO;  // a GET with a body: drop the connection
    }
    auto route = server.options_.routes.find(url);
    if (route == server.options_.routes.end()) {
      return Queue(connection, HttpResponse{.status = MHD_HTTP_NOT_FOUND, .body = "not found\n"},
                   head);
    }
    return Queue(connection, route->second(), head);
  }
};

namespace {

// "a.b.c.d:port" or "[v6]:port" into a socket address.
absl::StatusOr<std::pair<sockaddr_storage, socklen_t>> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", listen, "\" is not ADDRESS:PORT (e.g. 127.0.0.1:9464 or [::1]:9464)"));
  }
  std::string host = listen.substr(0, colon);
  uint32_t port = 0;
  if (!absl::SimpleAtoi(listen.substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("\"", listen, "\": bad port"));
  }
  sockaddr_storage storage{};
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&storage);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &sa->sin6_addr) == 1) {
      return std::make_pair(storage, static_cast<socklen_t>(sizeof(sockaddr_in6)));
    }
  } else {
    auto* sa = reinterpret_cast<sockaddr_in*>(&storage);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &sa->sin_addr) == 1) {
      return std::make_pair(storage, static_cast<socklen_t>(sizeof(sockaddr_in)));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("\"", listen, "\": the address must be an IPv4 literal or [IPv6]"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options) {
  absl::StatusOr<std::pair<sockaddr_storage, socklen_t>> address = ParseListen(options.listen);
  if (!address.ok()) {
    return address.status();
  }
  const sockaddr* sa = reinterpret_cast<const sockaddr*>(&address->first);
  int fd = ::socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("socket: ", std::strerror(errno)));
  }
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (sa->sa_family == AF_INET6) {
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  if (::bind(fd, sa, address->second) != 0 || ::listen(fd, 64) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen, ": ", std::strerror(err)));
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  const int port = bound.ss_family == AF_INET6
                       ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                       : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);

  std::unique_ptr<HttpServer> server(new HttpServer(std::move(options)));
  server->port_ = port;
  const unsigned timeout_s =
      static_cast<unsigned>(std::max<int64_t>(1, absl::ToInt64Seconds(server->options_.idle_timeout)));
  server->daemon_ = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, nullptr, nullptr,
      &HttpServerAccess::Handle, server.get(), MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, MHD_OPTION_CONNECTION_LIMIT,
      server->options_.max_connections, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      server->options_.max_request_bytes, MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    ::close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot start the HTTP server on ", server->options_.listen));
  }
  return server;
}

HttpServer::~HttpServer() {
  if (daemon_ != nullptr) {
    // MHD_stop_daemon closes the listen socket it was given.
    MHD_stop_daemon(daemon_);
  }
}

}  // namespace probesnat::metrics
