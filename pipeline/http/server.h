// The one HTTP server (civetweb): routes, basic auth, TLS, proper errors for wrong paths,
// methods and oversized requests. Handlers only read published snapshots.
#ifndef CCPULSE_PIPELINE_HTTP_SERVER_H_
#define CCPULSE_PIPELINE_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

struct mg_context;
struct mg_connection;

namespace ccpulse::http {

struct Request {
  std::string_view method;
  std::string_view path;   // decoded, without the query
  std::string_view query;  // raw, without '?'
  // Value of query parameter `name`, or "" (URL-decoded).
  std::string Param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// A long-lived response (server-sent events): writes until `Send` returns false (the client
// went away) or the server stops.
class Stream {
 public:
  explicit Stream(mg_connection* conn, const std::atomic<bool>* stopping) : conn_(conn), stopping_(stopping) {}
  bool Send(std::string_view data);
  bool stopping() const { return stopping_->load(); }

 private:
  mg_connection* conn_;
  const std::atomic<bool>* stopping_;
};

struct ServerOptions {
  std::string address = "127.0.0.1:9650";  // host:port; port 0 = any free port
  std::string tls_certificate;             // PEM file with certificate and private key
  std::string basic_auth_user;
  std::string basic_auth_password;
  int threads = 32;
  size_t max_request_bytes = 16 * 1024;
};

// Thread-safe: handlers run on civetweb's worker threads.
class Server {
 public:
  using Handler = std::function<Response(const Request&)>;
  using StreamHandler = std::function<void(const Request&, Stream&)>;

  // Routes are matched on the path prefix (longest first); a route answers GET and HEAD only.
  void Route(std::string prefix, Handler handler, bool public_route = false);
  void RouteStream(std::string prefix, StreamHandler handler);

  // Starts listening; routes must be added before.
  absl::Status Start(const ServerOptions& options);
  void Stop();
  ~Server();

  // "http://127.0.0.1:9650" (the bound port, also when 0 was asked for).
  const std::string& url() const { return url_; }
  int port() const { return port_; }

 private:
  struct Entry {
    std::string prefix;
    Handler handler;
    StreamHandler stream;
    bool public_route = false;
  };
  static int Dispatch(mg_connection* conn, void* self);
  int Handle(mg_connection* conn);
  bool Authorized(mg_connection* conn) const;

  std::vector<Entry> routes_;
  mg_context* ctx_ = nullptr;
  std::atomic<bool> stopping_{false};
  ServerOptions options_;
  std::string expected_auth_;  // "Basic base64(user:password)"
  std::string url_;
  int port_ = 0;
};

// Writes a JSON error body {"error": {"status": N, "message": "..."}}.
Response Error(int status, std::string_view message);

}  // namespace ccpulse::http

#endif  // CCPULSE_PIPELINE_HTTP_SERVER_H_
