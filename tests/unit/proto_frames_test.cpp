#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <grpcpp/support/byte_buffer.h>

#include "relay/service/proto_frames.hpp"

using relay::service::ProtoFrameEncoder;
using relay::service::wire_buffer;
using relay::service::write_options;

namespace {

relay::v1::ServerFrame parse(const grpc::ByteBuffer& buffer) {
  grpc::Slice bytes;
  REQUIRE(buffer.DumpToSingleSlice(&bytes).ok());
  relay::v1::ServerFrame frame;
  REQUIRE(frame.ParseFromArray(bytes.begin(), static_cast<int>(bytes.size())));
  return frame;
}

relay::hub::FramePtr message_frame(ProtoFrameEncoder& encoder, std::uint64_t sequence,
                                   std::string body) {
  relay::hub::Message message;
  message.room = "lobby";
  message.epoch = 7;
  message.sequence = sequence;
  message.sender = "ann";
  message.body = std::move(body);
  return encoder.encode_message(message);
}

}  // namespace

TEST_CASE("a lone frame is written as it is, several as one ServerFrame.batch in order") {
  ProtoFrameEncoder encoder;
  const std::vector frames{message_frame(encoder, 1, "one"),
                           message_frame(encoder, 2, std::string(300, 'x')),
                           message_frame(encoder, 3, "three")};

  const auto lone = parse(wire_buffer({frames.data(), 1}));
  REQUIRE(lone.has_message());
  CHECK(lone.message().sequence() == 1);
  CHECK(lone.message().body() == "one");

  const auto batch = parse(wire_buffer(frames));
  REQUIRE(batch.has_batch());
  REQUIRE(batch.batch().frames_size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(batch.batch().frames(i).message().sequence() == static_cast<std::uint64_t>(i + 1));
  }
  CHECK(batch.batch().frames(1).message().body() == std::string(300, 'x'));
}

TEST_CASE("a batch stays whole after later batches are built on the same thread") {
  ProtoFrameEncoder encoder;
  const std::vector first_frames{message_frame(encoder, 1, "one"),
                                 message_frame(encoder, 2, "two")};
  const grpc::ByteBuffer first = wire_buffer(first_frames);
  for (std::uint64_t round = 0; round < 3; ++round) {
    const std::vector later{message_frame(encoder, 10 + round, std::string(500, 'y')),
                            message_frame(encoder, 20 + round, "z"),
                            message_frame(encoder, 30 + round, "w")};
    CHECK(parse(wire_buffer(later)).batch().frames_size() == 3);
  }
  const auto batch = parse(first);
  REQUIRE(batch.batch().frames_size() == 2);
  CHECK(batch.batch().frames(0).message().body() == "one");
  CHECK(batch.batch().frames(1).message().body() == "two");
}

TEST_CASE("a batch of small frames and large ones keeps every frame whole and in order") {
  ProtoFrameEncoder encoder;
  // Long runs of small frames (kilobytes of them), broken by large ones and
  // by a lone small one between two large: however a write lays them out.
  std::vector<std::string> bodies;
  for (int i = 0; i < 120; ++i) {
    bodies.push_back(i % 50 == 7 ? std::string(2000, 'L') : std::string(i % 90, 's'));
  }
  bodies.insert(bodies.begin() + 60, {std::string(700, 'L'), "x", std::string(900, 'L')});
  std::vector<relay::hub::FramePtr> frames;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    frames.push_back(message_frame(encoder, i + 1, bodies[i]));
  }
  const auto batch = parse(wire_buffer(frames));
  REQUIRE(batch.has_batch());
  REQUIRE(batch.batch().frames_size() == static_cast<int>(bodies.size()));
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    const auto& message = batch.batch().frames(static_cast<int>(i)).message();
    CHECK(message.sequence() == i + 1);
    CHECK(message.body() == bodies[i]);
  }
}

// Only the benchmark shows what the hint saves (bench/PROFILE.md); this says
// which writes carry it.
TEST_CASE("only a write with more of the stream's frames behind it carries gRPC's buffer hint") {
  CHECK(write_options(true).get_buffer_hint());
  CHECK_FALSE(write_options(false).get_buffer_hint());
}
