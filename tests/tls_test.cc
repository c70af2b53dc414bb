// TLS on every gRPC endpoint: a cluster of processes started with $PATHWAYS_TLS_* (a self-signed
// certificate made here with openssl) serves its controller and workers over TLS; a client that
// trusts the certificate runs a program; a plaintext client and one trusting another authority
// cannot reach it; a file that cannot be read stops a process with an error naming it.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/client/client.h"
#include "pathways/cluster/process_cluster.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/rpc/services.grpc.pb.h"
#include "pathways/wire/wire_convert.h"
#include "tests/test_util.h"

#ifndef PW_TOOLS_DIR
#error "PW_TOOLS_DIR must name the folder of pw-controller"
#endif

namespace pw {
namespace {

namespace pwire = pathways::wire;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::Unwrap;

// A self-signed certificate for 127.0.0.1 and its key, in `dir`: (cert path, key path).
std::pair<std::string, std::string> MakeCertificate(const std::filesystem::path& dir, const std::string& name) {
  const std::string cert = (dir / (name + ".pem")).string(), key = (dir / (name + ".key")).string();
  const std::string command = absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=", name,
      " -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout ", key, " -out ", cert,
      " >/dev/null 2>&1");
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return {cert, key};
}

std::string Read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Whether a Status call over `channel` reaches the controller.
bool Reaches(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = pwire::ControllerApi::NewStub(channel);
  pwire::ClusterStatusRequest request;
  request.set_version(wire::kWireVersion);
  pwire::ClusterStatusResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  return stub->Status(&context, request, &response).ok();
}

TEST(TlsTest, AClusterOfProcessesServesOverTlsOnly) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / absl::StrCat("pw-tls-", getpid());
  std::filesystem::create_directories(dir);
  const auto [cert, key] = MakeCertificate(dir, "cluster");
  const auto [other_cert, other_key] = MakeCertificate(dir, "stranger");
  // Read once, at the first channel or server of this process; the cluster's processes inherit them.
  setenv("PATHWAYS_TLS_CERT", cert.c_str(), 1);
  setenv("PATHWAYS_TLS_KEY", key.c_str(), 1);
  setenv("PATHWAYS_TLS_CA", cert.c_str(), 1);
  ASSERT_THAT(grpc_transport::CheckProcessTls(), IsOk());
  EXPECT_EQ(grpc_transport::ProcessTls().ca, cert);

  ProcessClusterOptions options;
  options.hosts_per_island = 2;
  options.devices_per_host = 1;
  options.memory_per_device_bytes = int64_t{64} << 20;
  std::unique_ptr<ProcessCluster> cluster = Unwrap(ProcessCluster::Start(options));
  std::unique_ptr<Client> client = Unwrap(Client::ConnectTo(cluster->address(), "tls"));
  VirtualSlice slice = Unwrap(client->GetDevices(2));
  PmapFunction twice = client->Pmap("twice", slice, [](ir::FunctionBuilder& b, absl::Span<const ir::Value> x) {
    return std::vector<ir::Value>{b.Add(x[0], x[0])};
  });
  Array x = Unwrap(client->PutGlobal(slice, ir::Literal::Create<float>({2, 1}, {1, 2})));
  EXPECT_THAT(Unwrap(Unwrap(twice({x}))[0].ToLiteral()).data<float>(), ElementsAre(2, 4));

  // Plaintext does not reach it, nor TLS trusting another authority.
  EXPECT_FALSE(Reaches(grpc::CreateChannel(cluster->address(), grpc::InsecureChannelCredentials())));
  EXPECT_FALSE(Reaches(grpc::CreateChannel(
      cluster->address(), grpc::SslCredentials(grpc::SslCredentialsOptions{.pem_root_certs = Read(other_cert)}))));
  EXPECT_TRUE(Reaches(grpc::CreateChannel(
      cluster->address(), grpc::SslCredentials(grpc::SslCredentialsOptions{.pem_root_certs = Read(cert)}))));

  // A controller whose certificate cannot be read does not start in plaintext: it says why.
  const std::string log = (dir / "bad.log").string();
  const pid_t pid = Unwrap(SpawnProcess({std::string(PW_TOOLS_DIR) + "/pw-controller"},
                                        {.log = log, .env = {"PATHWAYS_TLS_CERT=" + (dir / "missing.pem").string()}}));
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0);
  EXPECT_THAT(Read(log), HasSubstr("$PATHWAYS_TLS_CERT: cannot read the PEM file"));
  client.reset();
  EXPECT_THAT(cluster->Stop(), IsOk());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pw
