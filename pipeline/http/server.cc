// civetweb wrapper; see server.h.
#include "pipeline/http/server.h"

#include <civetweb.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "pipeline/json_writer.h"

namespace ccpulse::http {
namespace {

std::string Base64(std::string_view in) {
  static constexpr char kTable[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {kTable[n >> 18], kTable[(n >> 12) & 63], kTable[(n >> 6) & 63], kTable[n & 63]};
  }
  if (i + 1 == in.size()) {
    const uint32_t n = uint8_t(in[i]) << 16;
    out += {kTable[n >> 18], kTable[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {kTable[n >> 18], kTable[(n >> 12) & 63], kTable[(n >> 6) & 63], '='};
  }
  return out;
}

// Compares without an early exit, so response time says nothing about the secret.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

void Send(mg_connection* conn, const Response& r, bool head) {
  mg_response_header_start(conn, r.status);
  mg_response_header_add(conn, "Content-Type", r.content_type.c_str(), -1);
  mg_response_header_add(conn, "Cache-Control", "no-store", -1);
  const std::string length = std::to_string(r.body.size());
  mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
  for (const auto& [k, v] : r.headers) mg_response_header_add(conn, k.c_str(), v.c_str(), -1);
  mg_response_header_send(conn);
  if (!head && !r.body.empty()) mg_write(conn, r.body.data(), r.body.size());
}

}  // namespace

std::string Request::Param(std::string_view name) const {
  size_t pos = 0;
  while (pos <= query.size()) {
    const size_t amp = std::min(query.find('&', pos), query.size());
    const std::string_view pair = query.substr(pos, amp - pos);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      const std::string raw(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
      std::string decoded(raw.size() + 1, '\0');
      const int n = mg_url_decode(raw.c_str(), static_cast<int>(raw.size()), decoded.data(),
                                  static_cast<int>(decoded.size()), 1);
      decoded.resize(n < 0 ? 0 : static_cast<size_t>(n));
      return decoded;
    }
    pos = amp + 1;
  }
  return "";
}

bool Stream::Send(std::string_view data) {
  if (stopping_->load()) return false;
  return mg_write(conn_, data.data(), data.size()) == static_cast<int>(data.size());
}

Response Error(int status, std::string_view message) {
  Response r;
  r.status = status;
  JsonWriter json(&r.body);
  json.BeginObject().Key("error").BeginObject();
  json.Key("status").Int(status).Key("message").String(message);
  json.EndObject().EndObject();
  return r;
}

void Server::Route(std::string prefix, Handler handler, bool public_route) {
  routes_.push_back({std::move(prefix), std::move(handler), nullptr, public_route});
}

void Server::RouteStream(std::string prefix, StreamHandler handler) {
  routes_.push_back({std::move(prefix), nullptr, std::move(handler), false});
}

absl::Status Server::Start(const ServerOptions& options) {
  options_ = options;
  std::sort(routes_.begin(), routes_.end(),
            [](const Entry& a, const Entry& b) { return a.prefix.size() > b.prefix.size(); });
  if (!options.basic_auth_user.empty()) {
    expected_auth_ = "Basic " + Base64(options.basic_auth_user + ":" + options.basic_auth_password);
  }
  const size_t colon = options.address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(fmt::format("`http.address`: expected host:port, got \"{}\"", options.address));
  }
  const bool tls = !options.tls_certificate.empty();
  const std::string ports = options.address + (tls ? "s" : "");
  const std::string threads = std::to_string(options.threads);
  const std::string max_request = std::to_string(options.max_request_bytes);
  std::vector<const char*> argv = {"listening_ports", ports.c_str(),      "num_threads", threads.c_str(),
                                   "request_timeout_ms", "10000",         "enable_keep_alive", "yes",
                                   "max_request_size", max_request.c_str()};
  if (tls) {
    argv.push_back("ssl_certificate");
    argv.push_back(options.tls_certificate.c_str());
  }
  argv.push_back(nullptr);
  mg_init_library(tls ? MG_FEATURES_TLS : 0);
  mg_callbacks callbacks{};
  callbacks.log_message = [](const mg_connection*, const char*) { return 1; };  // we report errors
  ctx_ = mg_start(&callbacks, this, argv.data());
  if (ctx_ == nullptr) {
    return absl::UnavailableError(fmt::format(
        "`http.address`: cannot listen on {}{} (in use, or not a local address?)", options.address,
        tls ? " with TLS (check http.tls_certificate)" : ""));
  }
  mg_set_request_handler(ctx_, "/", &Server::Dispatch, this);
  mg_server_port bound[4];
  const int n = mg_get_server_ports(ctx_, 4, bound);
  port_ = n > 0 ? bound[0].port : 0;
  url_ = fmt::format("{}://{}:{}", tls ? "https" : "http", options.address.substr(0, colon), port_);
  return absl::OkStatus();
}

void Server::Stop() {
  if (ctx_ == nullptr) return;
  stopping_ = true;
  mg_stop(ctx_);
  ctx_ = nullptr;
}

Server::~Server() { Stop(); }

int Server::Dispatch(mg_connection* conn, void* self) { return static_cast<Server*>(self)->Handle(conn); }

bool Server::Authorized(mg_connection* conn) const {
  if (expected_auth_.empty()) return true;
  const char* header = mg_get_header(conn, "Authorization");
  return header != nullptr && ConstantTimeEquals(header, expected_auth_);
}

int Server::Handle(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  Request request;
  request.method = info->request_method;
  request.path = info->local_uri != nullptr ? info->local_uri : "/";
  request.query = info->query_string != nullptr ? info->query_string : "";
  const bool head = request.method == "HEAD";

  const Entry* route = nullptr;
  for (const Entry& e : routes_) {
    const bool exact = request.path == e.prefix;
    const bool under = e.prefix.back() == '/' ? request.path.starts_with(e.prefix)
                                              : request.path.starts_with(e.prefix + "/");
    if (exact || (e.prefix != "/" && under)) {
      route = &e;
      break;
    }
  }
  if (route == nullptr) {
    Send(conn, Error(404, fmt::format("no such path: {}", request.path)), head);
    return 404;
  }
  if (request.method != "GET" && !head) {
    Response r = Error(405, fmt::format("{} does not accept {}", request.path, request.method));
    r.headers.emplace_back("Allow", "GET, HEAD");
    Send(conn, r, false);
    return 405;
  }
  if (!route->public_route && !Authorized(conn)) {
    Response r = Error(401, "authentication required");
    r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"ccpulse\", charset=\"UTF-8\"");
    Send(conn, r, head);
    return 401;
  }
  if (route->stream) {
    mg_response_header_start(conn, 200);
    mg_response_header_add(conn, "Content-Type", "text/event-stream", -1);
    mg_response_header_add(conn, "Cache-Control", "no-store", -1);
    mg_response_header_add(conn, "X-Accel-Buffering", "no", -1);
    mg_response_header_send(conn);
    Stream stream(conn, &stopping_);
    route->stream(request, stream);
    return 200;
  }
  Response response = route->handler(request);
  Send(conn, response, head);
  return response.status;
}

}  // namespace ccpulse::http
