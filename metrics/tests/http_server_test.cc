// The HTTP server over a real loopback socket: routes, methods, bounds, idle timeout.
#include "metrics/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>

#include <gtest/gtest.h>

namespace probesnat::metrics {
namespace {

// Connects to 127.0.0.1:port, sends `request`, reads until the server closes (or 5 s pass).
std::string Exchange(int port, const std::string& request, bool v6 = false) {
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  int rc;
  if (v6) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    sa.sin6_addr = in6addr_loopback;
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  } else {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  }
  EXPECT_EQ(rc, 0);
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      break;  // the server may close early on an oversized request
    }
    sent += n;
  }
  std::string out;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) {
      continue;
    }
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      break;
    }
    out.append(buf, n);
  }
  ::close(fd);
  return out;
}

std::unique_ptr<HttpServer> StartServer(std::atomic<int>* calls, const std::string& listen =
                                                                     "127.0.0.1:0") {
  HttpServerOptions o;
  o.listen = listen;
  o.idle_timeout = absl::Seconds(1);
  o.routes["/metrics"] = [calls] {
    ++*calls;
    return HttpResponse{.status = 200, .content_type = "text/plain; version=0.0.4",
                        .body = "x 1\n"};
  };
  o.routes["/readyz"] = [] { return HttpResponse{.status = 503, .body = "not ready\n"}; };
  absl::StatusOr<std::unique_ptr<HttpServer>> s = HttpServer::Start(std::move(o));
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

TEST(HttpServer, ServesRoutesWithStatusAndContentType) {
  std::atomic<int> calls = 0;
  std::unique_ptr<HttpServer> s = StartServer(&calls);
  ASSERT_NE(s, nullptr);
  ASSERT_GT(s->port(), 0);
  std::string r = Exchange(s->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << r;
  EXPECT_EQ(r.substr(r.size() - 4), "x 1\n");
  // The query string is not part of the path.
  r = Exchange(s->port(), "GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  r = Exchange(s->port(), "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 503", 0), 0u) << r;
  r = Exchange(s->port(), "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 404", 0), 0u) << r;
  r = Exchange(s->port(), "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  EXPECT_EQ(r.find("x 1\n"), std::string::npos) << r;
  EXPECT_EQ(calls.load(), 3);
}

TEST(HttpServer, RefusesOtherMethodsWithoutReadingTheBody) {
  std::atomic<int> calls = 0;
  std::unique_ptr<HttpServer> s = StartServer(&calls);
  ASSERT_NE(s, nullptr);
  std::string r = Exchange(s->port(),
                           "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(r.rfind("HTTP/1.1 405", 0), 0u) << r;
  EXPECT_NE(r.find("Allow: GET, HEAD"), std::string::npos) << r;
  EXPECT_EQ(calls.load(), 0);
}

TEST(HttpServer, RefusesOversizedHeaders) {
  std::atomic<int> calls = 0;
  std::unique_ptr<HttpServer> s = StartServer(&calls);
  ASSERT_NE(s, nullptr);
  std::string r = Exchange(s->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                          std::string(64 * 1024, 'a') + "\r\n\r\n");
  EXPECT_EQ(r.find("HTTP/1.1 200"), std::string::npos) << r.substr(0, 200);
  EXPECT_EQ(calls.load(), 0);
  // Still serving afterwards.
  r = Exchange(s->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
}

TEST(HttpServer, ClosesIdleConnections) {
  std::atomic<int> calls = 0;
  std::unique_ptr<HttpServer> s = StartServer(&calls);
  ASSERT_NE(s, nullptr);
  const auto start = std::chrono::steady_clock::now();
  std::string r = Exchange(s->port(), "GET /metr");  // never finished
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::milliseconds(4500)) << "the 1 s idle timeout did not close it";
  EXPECT_EQ(calls.load(), 0);
}

TEST(HttpServer, ListensOnIpv6Loopback) {
  std::atomic<int> calls = 0;
  std::unique_ptr<HttpServer> s = StartServer(&calls, "[::1]:0");
  ASSERT_NE(s, nullptr);
  std::string r =
      Exchange(s->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true);
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
}

TEST(HttpServer, RefusesBadAddressesAndBusyPorts) {
  for (const char* bad : {"", "127.0.0.1", "localhost:9464", "127.0.0.1:99999", "::1:9464",
                          "[::1]", "1.2.3.4.5:80"}) {
    HttpServerOptions o;
    o.listen = bad;
    EXPECT_EQ(HttpServer::Start(o).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  std::atomic<int> calls = 0;
  std::unique_ptr<HttpServer> s = StartServer(&calls);
  ASSERT_NE(s, nullptr);
  HttpServerOptions o;
  o.listen = "127.0.0.1:" + std::to_string(s->port());
  absl::StatusOr<std::unique_ptr<HttpServer>> second = HttpServer::Start(o);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("Address already in use"), std::string::npos)
      << second.status();
}

}  // namespace
}  // namespace probesnat::metrics
