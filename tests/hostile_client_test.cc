// Hostile clients of the controller's API over real sockets (the fixture of hostile_peer.h): a
// session of their own, then values no honest client sends, on unary calls and on a session
// stream. Each is refused naming the field, and afterwards the cluster still runs a program.
#include <climits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pathways/base/status_matchers.h"
#include "pathways/rpc/controller_session.h"
#include "pathways/rpc/grpc_common.h"
#include "pathways/rpc/services.grpc.pb.h"
#include "pathways/wire/wire_convert.h"
#include "tests/hostile_peer.h"

namespace pw {
namespace {

using ::testing::HasSubstr;
namespace pwire = pathways::wire;
using grpc_transport::MakeChannel;

TEST_F(HostilePeerTest, ControllerRequestsWithHostileValuesAreRefused) {
  auto stub = pwire::ControllerApi::NewStub(MakeChannel(server_->address()));
  // A session of its own: the hostile values must get past authentication to be refused.
  const auto [raw_client, session] = RawSession(*stub, server_->cluster_token());
  {
    pwire::RunControlRequest request;
    request.set_version(wire::kWireVersion);
    request.set_client(raw_client);
    request.set_kind(77);
    pwire::RunResponse response;
    grpc::ClientContext context;
    context.AddMetadata(grpc_transport::kSessionMetadata, session);
    ASSERT_TRUE(stub->RunControl(&context, request, &response).ok());
    EXPECT_THAT(wire::ResponseStatus(response),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("kind")));
  }
  {
    pwire::RunControlRequest request;
    request.set_version(wire::kWireVersion);
    request.set_client(raw_client);
    for (int i = 0; i <= kMaxControlPrograms; ++i) request.add_programs(i);
    pwire::RunResponse response;
    grpc::ClientContext context;
    context.AddMetadata(grpc_transport::kSessionMetadata, session);
    ASSERT_TRUE(stub->RunControl(&context, request, &response).ok());
    EXPECT_THAT(wire::ResponseStatus(response),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("programs")));
  }
  {
    pwire::RunRequest request;
    request.set_version(wire::kWireVersion);
    request.set_client(raw_client);
    request.set_program(INT64_MAX);
    request.add_inputs(-5);
    pwire::RunResponse response;
    grpc::ClientContext context;
    context.AddMetadata(grpc_transport::kSessionMetadata, session);
    ASSERT_TRUE(stub->Run(&context, request, &response).ok());
    EXPECT_THAT(wire::ResponseStatus(response), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  {
    // Another client's run, a run that never existed, a negative id.
    for (int64_t run : {int64_t{0}, INT64_MAX, int64_t{-3}}) {
      pwire::CancelRunRequest request;
      request.set_version(wire::kWireVersion);
      request.set_client(raw_client);
      request.set_run(run);
      pwire::StatusResponse response;
      grpc::ClientContext context;
      context.AddMetadata(grpc_transport::kSessionMetadata, session);
      ASSERT_TRUE(stub->CancelRun(&context, request, &response).ok());
      EXPECT_THAT(wire::ResponseStatus(response),
                  StatusIs(run < 0 ? absl::StatusCode::kInvalidArgument : absl::StatusCode::kNotFound));
    }
  }
  {
    pwire::RepairSliceRequest request;
    request.set_version(wire::kWireVersion);
    request.set_client(raw_client);
    request.set_slice(INT64_MAX);
    pwire::AllocateSliceResponse response;
    grpc::ClientContext context;
    context.AddMetadata(grpc_transport::kSessionMetadata, session);
    ASSERT_TRUE(stub->RepairSlice(&context, request, &response).ok());
    EXPECT_THAT(wire::ResponseStatus(response), StatusIs(absl::StatusCode::kNotFound));
  }
  ExpectTheClusterStillWorks();
}

// A client's session stream: calls the controller can refuse one by one are answered, each naming
// its field, and the stream goes on; a message breaking the stream's own rules ends it.
TEST_F(HostilePeerTest, HostileCallsOnASessionStreamAreRefused) {
  auto stub = pwire::ControllerApi::NewStub(MakeChannel(server_->address()));
  const auto [raw_client, session] = RawSession(*stub, server_->cluster_token());
  auto calls = [](std::vector<pwire::SessionCall> list, uint32_t version = wire::kWireVersion) {
    pwire::SessionCalls message;
    message.set_version(version);
    for (pwire::SessionCall& call : list) *message.add_calls() = std::move(call);
    return message;
  };
  auto sync_call = [](uint64_t tag) {
    pwire::SessionCall call;
    call.set_tag(tag);
    call.mutable_sync();
    return call;
  };
  auto array_call = [&](uint64_t tag, int64_t client, int64_t array, bool release) {
    pwire::SessionCall call;
    call.set_tag(tag);
    pwire::ArrayRequest& request = release ? *call.mutable_release_array() : *call.mutable_await_array();
    request.set_version(wire::kWireVersion);
    request.set_client(client);
    request.set_array(array);
    return call;
  };
  {
    grpc::ClientContext context;
    context.AddMetadata(grpc_transport::kSessionMetadata, session);
    auto stream = stub->Session(&context);
    pwire::SessionCall run;
    run.set_tag(7);
    run.mutable_run()->set_version(wire::kWireVersion);
    run.mutable_run()->set_client(raw_client);
    run.mutable_run()->set_program(INT64_MAX);
    run.mutable_run()->add_inputs(-5);
    pwire::SessionCall sync = sync_call(11);
    ASSERT_TRUE(stream->Write(calls({run, array_call(8, raw_client + 1000, 1, false),
                                     array_call(9, raw_client, -2, true),
                                     array_call(10, raw_client, INT64_MAX, false), sync})));
    // Answers of one message may come in several: read until the sync's.
    std::map<uint64_t, pwire::SessionAnswer> answers;
    pwire::SessionAnswers read;
    while (answers.count(11) == 0 && stream->Read(&read)) {
      for (const pwire::SessionAnswer& answer : read.answers()) answers[answer.tag()] = answer;
    }
    ASSERT_EQ(answers.size(), 5u);
    EXPECT_THAT(wire::ResponseStatus(answers[7].run()),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RunRequest")));
    EXPECT_THAT(wire::ResponseStatus(answers[8].status()), StatusIs(absl::StatusCode::kNotFound));
    EXPECT_THAT(wire::ResponseStatus(answers[9].status()),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("array")));
    EXPECT_THAT(wire::ResponseStatus(answers[10].status()), StatusIs(absl::StatusCode::kNotFound));
    EXPECT_THAT(wire::ResponseStatus(answers[11].status()), IsOk());
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
  }
  // One message on a stream of its own; the stream's final status.
  auto end_of = [&](const pwire::SessionCalls& message, bool with_session = true) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (with_session) context.AddMetadata(grpc_transport::kSessionMetadata, session);
    auto stream = stub->Session(&context);
    stream->Write(message);  // may fail: the controller may have ended the stream already
    stream->WritesDone();
    pwire::SessionAnswers ignored;
    while (stream->Read(&ignored)) {
    }
    return stream->Finish();
  };
  auto expect_ended = [](const grpc::Status& s, grpc::StatusCode code, const std::string& culprit) {
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(culprit));
  };
  expect_ended(end_of(calls({}), /*with_session=*/false), grpc::StatusCode::UNAUTHENTICATED, "session");
  expect_ended(end_of(calls({}, wire::kWireVersion + 7)), grpc::StatusCode::FAILED_PRECONDITION,
               "version");
  std::vector<pwire::SessionCall> too_many(grpc_transport::kMaxSessionCalls + 1,
                                           array_call(1, raw_client, 1, false));
  expect_ended(end_of(calls(too_many)), grpc::StatusCode::INVALID_ARGUMENT, "at most 1024");
  pwire::SessionCall empty;
  empty.set_tag(3);
  expect_ended(end_of(calls({empty})), grpc::StatusCode::INVALID_ARGUMENT, "calls[0]: no call set");
  expect_ended(end_of(calls({array_call(2, raw_client, 1, false), array_call(0, raw_client, 1, false)})),
               grpc::StatusCode::INVALID_ARGUMENT, "calls[1].tag");
  {
    // A client may hold a few streams at once, not any number; they all end when it disconnects.
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    std::vector<std::unique_ptr<grpc::ClientReaderWriter<pwire::SessionCalls, pwire::SessionAnswers>>> open;
    const pwire::SessionCall sync = sync_call(1);
    pwire::SessionAnswers answers;
    for (int i = 0; i < grpc_transport::kMaxSessionStreamsPerClient; ++i) {
      contexts.push_back(std::make_unique<grpc::ClientContext>());
      contexts.back()->AddMetadata(grpc_transport::kSessionMetadata, session);
      open.push_back(stub->Session(contexts.back().get()));
      ASSERT_TRUE(open.back()->Write(calls({sync})));
      ASSERT_TRUE(open.back()->Read(&answers));  // open and answering
    }
    expect_ended(end_of(calls({sync})), grpc::StatusCode::RESOURCE_EXHAUSTED, "session streams open");
    pwire::DisconnectRequest request;
    request.set_version(wire::kWireVersion);
    request.set_client(raw_client);
    pwire::StatusResponse response;
    grpc::ClientContext context;
    context.AddMetadata(grpc_transport::kSessionMetadata, session);
    ASSERT_TRUE(stub->Disconnect(&context, request, &response).ok());
    for (auto& stream : open) {
      EXPECT_FALSE(stream->Read(&answers));
      expect_ended(stream->Finish(), grpc::StatusCode::UNAUTHENTICATED, "disconnected");
    }
  }
  ExpectTheClusterStillWorks();
}

}  // namespace
}  // namespace pw
