#include "pathways/dashboard/dashboard_server.h"

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "pathways/base/clock.h"
#include "pathways/base/status_matchers.h"
#include "pathways/dashboard/fake_dashboard_source.h"
#include "pathways/dashboard/prometheus_text.h"

namespace pw {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class DashboardServerTest : public ::testing::Test {
 protected:
  void StartServer(DashboardServerOptions options = {}) {
    options.sampler.interval = absl::Hours(1);  // samples come from requests only
    options.sampler.max_age = absl::ZeroDuration();
    absl::StatusOr<std::unique_ptr<DashboardServer>> s = DashboardServer::Start(options, &source_);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  httplib::Result Get(const std::string& path, const httplib::Headers& headers = {}) {
    return client_->Get(path, headers);
  }

  FakeDashboardSource source_;
  std::unique_ptr<DashboardServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(DashboardServerTest, ServesThePageWithNothingFetchedFromElsewhere) {
  StartServer();
  for (const char* path : {"/", "/dashboard.js", "/dashboard.css"}) {
    httplib::Result r = Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path;
    EXPECT_THAT(r->body, Not(HasSubstr("src=\"http"))) << path;
    EXPECT_THAT(r->body, Not(HasSubstr("href=\"http"))) << path;
    EXPECT_THAT(r->body, Not(HasSubstr("@import"))) << path;
  }
  EXPECT_THAT(Get("/")->body, HasSubstr("<script src=\"dashboard.js\""));
  EXPECT_THAT(Get("/")->get_header_value("Content-Security-Policy"), HasSubstr("default-src 'self'"));
}

TEST_F(DashboardServerTest, ClusterDocumentHasIslandsHostsDevicesAndUtilisation) {
  StartServer();
  source_.SetBusyNanos(0);
  ASSERT_TRUE(Get("/api/cluster"));
  source_.SetBusyNanos(int64_t{1} << 62);  // busier than wall time: clamps to 1
  httplib::Result r = Get("/api/cluster");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const nlohmann::json doc = nlohmann::json::parse(r->body);
  ASSERT_EQ(doc["islands"].size(), 1);
  const auto& hosts = doc["islands"][0]["hosts"];
  ASSERT_EQ(hosts.size(), 2);
  EXPECT_EQ(hosts[1]["id"], 1);
  ASSERT_EQ(hosts[1]["devices"].size(), 2);
  EXPECT_EQ(hosts[1]["devices"][0]["id"], 2);
  EXPECT_EQ(hosts[1]["devices"][0]["memory_in_use_bytes"], 4096);
  EXPECT_EQ(hosts[1]["devices"][0]["utilization"], 1.0);
  EXPECT_GE(hosts[1]["devices"][0]["utilization_history"].size(), 1);
  EXPECT_EQ(doc["lost_hosts"], 1);
}

TEST_F(DashboardServerTest, ClientsProgramsAndLostHosts) {
  StartServer();
  const nlohmann::json clients = nlohmann::json::parse(Get("/api/clients")->body);
  ASSERT_EQ(clients["clients"].size(), 1);
  EXPECT_EQ(clients["clients"][0]["name"], "trainer \"A\"");
  EXPECT_EQ(clients["clients"][0]["slices"][0]["devices"], nlohmann::json({0, 1}));
  const nlohmann::json one = nlohmann::json::parse(Get("/api/clients/5")->body);
  EXPECT_EQ(one["runs"], 3);

  source_.metrics.RecordFailure(RunFailure{.run = RunId(7), .client = ClientId(5), .program = "bad",
                                           .error = absl::InvalidArgumentError("shape mismatch in dot")});
  const nlohmann::json programs = nlohmann::json::parse(Get("/api/programs")->body);
  EXPECT_EQ(programs["running"][0]["program"], "step");
  EXPECT_EQ(programs["failed"][0]["error"], "shape mismatch in dot");
  EXPECT_EQ(programs["failed"][0]["code"], "INVALID_ARGUMENT");
  const nlohmann::json lost = nlohmann::json::parse(Get("/api/lost_hosts")->body);
  EXPECT_EQ(lost["lost_hosts"][0]["id"], 9);
  EXPECT_THAT(lost["lost_hosts"][0]["reason"].get<std::string>(), HasSubstr("missed heartbeats"));
}

TEST_F(DashboardServerTest, UnknownPathsAndObjectsAre404WithAMessage) {
  StartServer();
  struct Case {
    const char* path;
    const char* message;
  };
  for (const Case& c : {Case{"/nope", "no such page: /nope"}, Case{"/api/nope", "no such page"},
                        Case{"/api/islands/3", "no island 3"}, Case{"/api/hosts/7", "no host 7"},
                        Case{"/api/hosts/9", "host 9 was lost"}, Case{"/api/clients/6", "no client 6"},
                        Case{"/api/islands/0/hosts", "no such page"}}) {
    httplib::Result r = Get(c.path);
    ASSERT_TRUE(r) << c.path;
    EXPECT_EQ(r->status, 404) << c.path;
    EXPECT_THAT(r->body, HasSubstr(c.message)) << c.path;
  }
  EXPECT_EQ(Get("/api/islands/0")->status, 200);
  EXPECT_EQ(Get("/api/hosts/1")->status, 200);
}

TEST_F(DashboardServerTest, MethodsOtherThanGetAre405AndChangeNothing) {
  StartServer();
  const int before = source_.status_calls;
  std::vector<httplib::Result> results;
  results.push_back(client_->Post("/api/cluster", "x", "text/plain"));
  results.push_back(client_->Put("/metrics", "x", "text/plain"));
  results.push_back(client_->Delete("/api/clients/5"));
  results.push_back(client_->Patch("/", "x", "text/plain"));
  results.push_back(client_->Options("/api/trace"));
  for (const httplib::Result& r : results) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
    EXPECT_THAT(r->body, HasSubstr("read-only"));
    EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD");
  }
  EXPECT_EQ(source_.status_calls, before);
  EXPECT_EQ(client_->Head("/api/cluster")->status, 200);
}

TEST_F(DashboardServerTest, MalformedQueriesAre400NamingTheCulprit) {
  StartServer();
  const int status_before = source_.status_calls;
  struct Case {
    const char* path;
    const char* message;
  };
  for (const Case& c : {Case{"/api/trace?seconds=abc", "'abc'"}, Case{"/api/trace?seconds=0", "[1, 600]"},
                        Case{"/api/trace?seconds=-3", "'-3'"}, Case{"/api/trace?seconds=601", "'601'"},
                        Case{"/api/trace?seconds=99999999999999999999999", "seconds must be"},
                        Case{"/api/trace?seconds=", "seconds must be"},
                        Case{"/api/trace?seconds=1&seconds=2", "given twice"},
                        Case{"/api/trace?secs=3", "unknown query parameter 'secs'"},
                        Case{"/api/cluster?x=1", "unknown query parameter 'x'"},
                        Case{"/metrics?format=json", "unknown query parameter 'format'"},
                        Case{"/api/hosts/abc", "host id 'abc'"}, Case{"/api/clients/-1", "client id '-1'"},
                        Case{"/api/islands/99999999999999999999999", "is not a non-negative integer"}}) {
    httplib::Result r = Get(c.path);
    ASSERT_TRUE(r) << c.path;
    EXPECT_EQ(r->status, 400) << c.path;
    EXPECT_THAT(r->body, HasSubstr(c.message)) << c.path;
  }
  EXPECT_EQ(source_.trace_calls, 0);
  EXPECT_EQ(source_.status_calls, status_before);
}

// A path that is not UTF-8 once decoded, and a Host that is not this machine's loopback (a page
// of another site rebinding its name here): answered, and the server goes on serving.
TEST_F(DashboardServerTest, HostileRequestsAreAnsweredAndChangeNothing) {
  StartServer();
  for (const auto& [path, code] : {std::pair{"/api/%ff", 404}, std::pair{"/api/hosts/%c3%28", 400},
                                   std::pair{"/%ff%fe", 404}}) {
    httplib::Result r = Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, code) << path;
    if (absl::StartsWith(path, "/api/")) {  // JSON, the bad bytes replaced
      EXPECT_TRUE(nlohmann::json::parse(r->body, nullptr, false).contains("error")) << r->body;
    }
  }
  httplib::Result rebound = Get("/api/cluster", {{"Host", "attacker.example:8080"}});
  ASSERT_TRUE(rebound);
  EXPECT_EQ(rebound->status, 403);
  EXPECT_THAT(rebound->body, HasSubstr("is not this dashboard's address"));
  EXPECT_EQ(Get("/api/cluster", {{"Host", "localhost:1"}})->status, 200);
  EXPECT_EQ(Get("/api/cluster")->status, 200);
}

TEST_F(DashboardServerTest, TraceHasOnlyTheLastSecondsAndIsAnAttachment) {
  StartServer();
  httplib::Result r = Get("/api/trace?seconds=60");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_THAT(r->get_header_value("Content-Disposition"), HasSubstr("attachment"));
  const nlohmann::json trace = nlohmann::json::parse(r->body);
  std::set<std::string> names;
  for (const auto& e : trace["traceEvents"]) names.insert(e.value("name", ""));
  EXPECT_TRUE(names.contains("recent"));
  EXPECT_FALSE(names.contains("an hour ago"));
}

TEST_F(DashboardServerTest, TokenIsRequiredOnEveryDataRequestWhenAsked) {
  StartServer({.access = DashboardAccess::kTokenAlways, .operator_token = "s3cret"});
  EXPECT_TRUE(server_->requires_token());
  for (const char* path : {"/api/cluster", "/metrics", "/api/trace?seconds=1", "/api/clients/5"}) {
    EXPECT_EQ(Get(path)->status, 401) << path;
    EXPECT_EQ(Get(path, {{"Authorization", "Bearer wrong"}})->status, 401) << path;
    EXPECT_EQ(Get(path, {{"Authorization", "s3cret"}})->status, 401) << path;
    EXPECT_EQ(Get(path, {{"Authorization", "Bearer s3cret"}})->status, 200) << path;
  }
  EXPECT_THAT(Get("/api/cluster")->body, HasSubstr("needs the operator token"));
  EXPECT_EQ(Get("/")->status, 200);  // the page itself holds no cluster data
}

TEST(DashboardServerStartTest, RefusesBadOptions) {
  FakeDashboardSource source;
  EXPECT_THAT(DashboardServer::Start({.host = "0.0.0.0"}, &source), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("operator token")));
  EXPECT_THAT(DashboardServer::Start({.port = 70000}, &source), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(DashboardServer::Start({.host = "203.0.113.1", .operator_token = "t"}, &source),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot listen on 203.0.113.1")));
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.8.0.2"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
}

// Every line is a comment or `name{labels} value`; every sample belongs to a family declared
// (HELP and TYPE) before it; counters end in _total; histogram buckets grow.
TEST_F(DashboardServerTest, MetricsAreValidExpositionFormat) {
  StartServer();
  source_.metrics.runs_started.Add(3);
  source_.metrics.computations.Add(6);
  source_.metrics.dispatch_latency.Observe(20'000);
  httplib::Result r = Get("/metrics");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), kPrometheusContentType);
  const std::regex sample(R"re(^([a-z_][a-z0-9_]*)(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|\+Inf|NaN)$)re");
  const std::regex type(R"(^# TYPE ([a-z_][a-z0-9_]*) (counter|gauge|histogram)$)");
  std::map<std::string, std::string> types;
  std::istringstream in(r->body);
  std::string line;
  int samples = 0;
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.rfind("# HELP ", 0) == 0) continue;
    if (std::regex_match(line, m, type)) {
      EXPECT_TRUE(types.emplace(m[1], m[2]).second) << "declared twice: " << line;
      if (m[2] == "counter") EXPECT_THAT(std::string(m[1]), testing::EndsWith("_total"));
      continue;
    }
    ASSERT_TRUE(std::regex_match(line, m, sample)) << "not a sample: " << line;
    std::string family = m[1];
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (!types.contains(family) && family.ends_with(suffix)) family.resize(family.size() - strlen(suffix));
    }
    EXPECT_TRUE(types.contains(family)) << "no TYPE before " << line;
    EXPECT_EQ(family.rfind("pathways_", 0), 0u) << line;
    ++samples;
  }
  EXPECT_GT(samples, 20);
  EXPECT_THAT(r->body, HasSubstr("\npathways_program_runs_total 3\n"));
  EXPECT_THAT(r->body, HasSubstr("\npathways_computations_total 6\n"));
  EXPECT_THAT(r->body, HasSubstr("pathways_dispatch_latency_seconds_bucket{le=\"6.4e-05\"} 1\n"));
  EXPECT_THAT(r->body, HasSubstr("pathways_client_runs_total{client_id=\"5\",client=\"trainer \\\"A\\\"\"} 3\n"));
  EXPECT_THAT(r->body, HasSubstr("pathways_device_memory_used_bytes{island=\"0\",host=\"1\",device=\"3\",kind=\"cpu\"} 4096\n"));
  EXPECT_THAT(r->body, HasSubstr("\npathways_hosts_lost_total 1\n"));
  EXPECT_THAT(r->body, HasSubstr("\npathways_host_transfer_bytes_total{island=\"0\",host=\"1\"} 2000\n"));
}

}  // namespace
}  // namespace pw
