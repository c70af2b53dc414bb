// DashboardServer: routing, credentials and input checks over cpp-httplib.
#include "pathways/dashboard/dashboard_server.h"

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "pathways/base/clock.h"
#include "pathways/base/secret.h"
#include "pathways/dashboard/dashboard_assets.h"
#include "pathways/dashboard/dashboard_json.h"
#include "pathways/dashboard/metrics_page.h"
#include "pathways/dashboard/prometheus_text.h"

namespace pw {
namespace {

constexpr char kJson[] = "application/json";

int HttpCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kUnavailable: return 503;
    default: return 500;
  }
}

// JSON text; bytes that are not UTF-8 (a path, a client's name) become U+FFFD instead of
// throwing.
std::string Dump(const nlohmann::json& json) {
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Whether a request's Host header names this machine's loopback (127.x, localhost, [::1]),
// with or without a port.
bool LocalHost(const std::string& host) {
  if (absl::StartsWith(host, "[")) {  // [v6]:port
    const size_t close = host.find(']');
    return close != std::string::npos && IsLoopbackHost(host.substr(0, close + 1));
  }
  return IsLoopbackHost(host.substr(0, host.find(':')));
}

// Errors are JSON under /api/ (the page shows the message) and text elsewhere.
void Fail(const httplib::Request& req, httplib::Response& res, int code, const std::string& message) {
  res.status = code;
  if (absl::StartsWith(req.path, "/api/")) {
    res.set_content(Dump(nlohmann::json{{"error", message}}), kJson);
  } else {
    res.set_content(message + "\n", "text/plain; charset=utf-8");
  }
}

void Fail(const httplib::Request& req, httplib::Response& res, const absl::Status& s) {
  Fail(req, res, HttpCode(s.code()), std::string(s.message()));
}

// OK when every query parameter is one of `allowed` and none repeats.
absl::Status CheckParams(const httplib::Request& req, const std::set<std::string>& allowed) {
  std::set<std::string> seen;
  for (const auto& [key, value] : req.params) {
    if (!allowed.contains(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat(req.path, ": unknown query parameter '", key.substr(0, 64), "'"));
    }
    if (!seen.insert(key).second) {
      return absl::InvalidArgumentError(absl::StrCat(req.path, ": query parameter '", key, "' given twice"));
    }
  }
  return absl::OkStatus();
}

// The id in the path (match 1): INVALID_ARGUMENT naming `what` for anything but a number.
absl::StatusOr<int64_t> PathId(const httplib::Request& req, const char* what) {
  const std::string text = req.matches[1];
  int64_t id = 0;
  if (!absl::SimpleAtoi(text, &id) || id < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " id '", text.substr(0, 64), "' is not a non-negative integer"));
  }
  return id;
}

absl::StatusOr<int64_t> TraceSeconds(const httplib::Request& req, int64_t max) {
  if (!req.has_param("seconds")) return std::min<int64_t>(10, max);
  const std::string text = req.get_param_value("seconds");
  int64_t seconds = 0;
  if (!absl::SimpleAtoi(text, &seconds) || seconds < 1 || seconds > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "/api/trace: seconds must be an integer in [1, ", max, "], got '", text.substr(0, 64), "'"));
  }
  return seconds;
}

// The events of `all` that end within the last `seconds` (and every lane name).
std::string TraceWindowJson(TraceRecorder& all, int64_t seconds) {
  const int64_t cutoff = MonotonicNanos() - seconds * 1'000'000'000;
  TraceRecorder window;
  window.Start();
  for (TraceEvent& name : all.LaneNames()) window.AddLaneName(std::move(name));
  for (TraceEvent& e : all.TakeEvents()) {
    if (e.start_ns + std::max<int64_t>(e.dur_ns, 0) >= cutoff) window.Record(std::move(e));
  }
  return window.ToJson();
}

}  // namespace

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  in_addr v4{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

DashboardServer::DashboardServer(DashboardServerOptions options, DashboardSource* source)
    : options_(std::move(options)), source_(source), sampler_(source, options_.sampler) {}

absl::StatusOr<std::unique_ptr<DashboardServer>> DashboardServer::Start(DashboardServerOptions options,
                                                                        DashboardSource* source) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("dashboard: port must be in [0, 65535], got ", options.port));
  }
  if (options.max_trace_seconds < 1 || options.threads < 1) {
    return absl::InvalidArgumentError("dashboard: max_trace_seconds and threads must be >= 1");
  }
  std::unique_ptr<DashboardServer> server(new DashboardServer(std::move(options), source));
  const DashboardServerOptions& o = server->options_;
  server->requires_token_ = o.access == DashboardAccess::kTokenAlways || !IsLoopbackHost(o.host);
  if (server->requires_token_ && o.operator_token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dashboard: listening on ", o.host, " (not loopback) needs the operator token"));
  }
  server->http_ = std::make_unique<httplib::Server>();
  server->Route();
  const std::string bind_host = o.host.size() > 2 && o.host.front() == '[' ? o.host.substr(1, o.host.size() - 2) : o.host;
  if (o.port == 0) {
    server->port_ = server->http_->bind_to_any_port(bind_host);
  } else if (server->http_->bind_to_port(bind_host, o.port)) {
    server->port_ = o.port;
  }
  if (server->port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat("dashboard: cannot listen on ", o.host, ":", o.port, " (address in use or not local?)"));
  }
  server->sampler_.Sample();  // the first requests find a snapshot
  server->sampler_.Start();
  auto ended = std::make_shared<std::atomic<bool>>(false);
  server->listener_ = std::thread([s = server.get(), ended] {
    s->http_->listen_after_bind();
    ended->store(true);
  });
  // Stop() works only once the listener runs (a stop before that would be lost, and its join
  // would wait forever): wait for it to run, or to have given up.
  while (!server->http_->is_running() && !ended->load()) absl::SleepFor(absl::Milliseconds(1));
  if (!server->http_->is_running()) {
    return absl::UnavailableError(
        absl::StrCat("dashboard: the listener on ", o.host, ":", server->port_, " did not start"));
  }
  return server;
}

DashboardServer::~DashboardServer() { Stop(); }

void DashboardServer::Stop() {
  absl::MutexLock lock(&stop_mu_);
  if (http_ != nullptr) http_->stop();
  if (listener_.joinable()) listener_.join();
  sampler_.Stop();
}

std::string DashboardServer::url() const {
  const bool v6 = options_.host.find(':') != std::string::npos && options_.host.front() != '[';
  return absl::StrCat("http://", v6 ? "[" : "", options_.host, v6 ? "]" : "", ":", port_, "/");
}

void DashboardServer::Route() {
  httplib::Server& http = *http_;
  const int threads = options_.threads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(4096);  // GET only: no body is read
  http.set_read_timeout(5, 0);
  http.set_write_timeout(30, 0);
  // One request per connection: a page polling on kept-alive connections would hold every
  // thread of the pool, and a scrape or a second page would queue behind it.
  http.set_keep_alive_max_count(1);
  http.set_default_headers({{"Cache-Control", "no-store"},
                            {"X-Content-Type-Options", "nosniff"},
                            {"Content-Security-Policy", "default-src 'self'; img-src 'self' data:"}});
  // Before routing: the method, then the credential (the page and its parts hold no cluster
  // data, so a browser can load them and present the token from its URL fragment).
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.method != "GET" && req.method != "HEAD") {
      res.set_header("Allow", "GET, HEAD");
      Fail(req, res, 405, absl::StrCat(req.method.substr(0, 16), " ", req.path.substr(0, 128),
                                       ": the dashboard is read-only (GET only)"));
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!requires_token_ && !LocalHost(req.get_header_value("Host"))) {
      // On loopback no credential is asked: a page of another site that made its name
      // resolve here (DNS rebinding) must not read the cluster through the browser.
      Fail(req, res, 403, absl::StrCat("Host '", req.get_header_value("Host").substr(0, 64),
                                       "' is not this dashboard's address (", url(), ")"));
      return httplib::Server::HandlerResponse::Handled;
    }
    const bool asset = req.path == "/" || req.path == "/index.html" || req.path == "/dashboard.css" ||
                       req.path == "/dashboard.js";
    if (requires_token_ && !asset) {
      const std::string auth = req.get_header_value("Authorization");
      if (!absl::StartsWith(auth, "Bearer ") || !SameSecret(auth.substr(7), options_.operator_token)) {
        res.set_header("WWW-Authenticate", "Bearer");
        Fail(req, res, 401, absl::StrCat(req.path.substr(0, 128),
                                         ": needs the operator token (Authorization: Bearer <token>)"));
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // An unmatched path gets 404 from httplib; give it a message.
  // httplib calls it outside its own exception handling: nothing may escape.
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    try {
      if (res.status == 404 && res.body.empty()) {
        Fail(req, res, 404, absl::StrCat("no such page: ", req.path.substr(0, 128)));
      } else if (res.body.empty()) {
        Fail(req, res, res.status, absl::StrCat("request for ", req.path.substr(0, 128), " failed"));
      }
    } catch (...) {
      res.set_content("request failed\n", "text/plain; charset=utf-8");
    }
  });
  http.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
    Fail(req, res, 500, "internal error rendering the page");
  });

  auto asset = [&http](const char* path, const char* body, const char* type) {
    http.Get(path, [body, type](const httplib::Request& req, httplib::Response& res) {
      if (absl::Status s = CheckParams(req, {}); !s.ok()) return Fail(req, res, s);
      res.set_content(body, type);
    });
  };
  asset("/", kDashboardIndexHtml, "text/html; charset=utf-8");
  asset("/index.html", kDashboardIndexHtml, "text/html; charset=utf-8");
  asset("/dashboard.css", kDashboardCss, "text/css; charset=utf-8");
  asset("/dashboard.js", kDashboardJs, "text/javascript; charset=utf-8");

  // A document of the fresh snapshot, with no query parameters.
  auto document = [this, &http](const char* path, nlohmann::json (*render)(const ClusterSnapshot&)) {
    http.Get(path, [this, render](const httplib::Request& req, httplib::Response& res) {
      if (absl::Status s = CheckParams(req, {}); !s.ok()) return Fail(req, res, s);
      res.set_content(Dump(render(*sampler_.Fresh())), kJson);
    });
  };
  document("/api/cluster", ClusterJson);
  document("/api/clients", ClientsJson);
  document("/api/programs", ProgramsJson);
  document("/api/lost_hosts", LostHostsJson);
  // A document of one object, by the id in its path.
  auto object = [this, &http](const char* pattern, const char* what,
                              absl::StatusOr<nlohmann::json> (*render)(const ClusterSnapshot&, int64_t)) {
    http.Get(pattern, [this, what, render](const httplib::Request& req, httplib::Response& res) {
      if (absl::Status s = CheckParams(req, {}); !s.ok()) return Fail(req, res, s);
      absl::StatusOr<int64_t> id = PathId(req, what);
      if (!id.ok()) return Fail(req, res, id.status());
      absl::StatusOr<nlohmann::json> doc = render(*sampler_.Fresh(), *id);
      if (!doc.ok()) return Fail(req, res, doc.status());
      res.set_content(Dump(*doc), kJson);
    });
  };
  object(R"(/api/islands/([^/]+))", "island", IslandJson);
  object(R"(/api/hosts/([^/]+))", "host", HostJson);
  object(R"(/api/clients/([^/]+))", "client", ClientJson);

  http.Get("/api/trace", [this](const httplib::Request& req, httplib::Response& res) {
    if (absl::Status s = CheckParams(req, {"seconds"}); !s.ok()) return Fail(req, res, s);
    absl::StatusOr<int64_t> seconds = TraceSeconds(req, options_.max_trace_seconds);
    if (!seconds.ok()) return Fail(req, res, seconds.status());
    // Collecting asks every host for its events: one collection at a time.
    if (!trace_mu_.TryLock()) {
      return Fail(req, res, 429, "/api/trace: a trace is being collected already; retry when it is done");
    }
    TraceRecorder all;
    all.Start();
    absl::Status collected = source_->CollectTrace(all);
    trace_mu_.Unlock();
    if (!collected.ok()) return Fail(req, res, collected);
    res.set_header("Content-Disposition",
                   absl::StrCat("attachment; filename=\"pathways-trace-", *seconds, "s.json\""));
    res.set_content(TraceWindowJson(all, *seconds), kJson);
  });

  http.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
    if (absl::Status s = CheckParams(req, {}); !s.ok()) return Fail(req, res, s);
    res.set_content(RenderMetrics(source_->Metrics(), *sampler_.Fresh()), kPrometheusContentType);
  });
}

}  // namespace pw
