#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/metadata.hpp"
#include "relay/v1/relay.grpc.pb.h"
#include "tests/integration/child_process.hpp"
#include "tests/integration/relay_process.hpp"

using namespace relay::testing;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> chat(const std::string& target, std::vector<std::string> args) {
  std::vector<std::string> all{relay_chat_path(), "--relay", target};
  all.insert(all.end(), args.begin(), args.end());
  return all;
}

// An address where nothing listens: a port bound and closed again.
std::string address_with_nothing() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  ::close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
}

// A relay that accepts connections (the kernel does) but never answers. It is
// resumed and killed by PID at the end, so that no stopped relay outlives the test.
class StoppedRelay {
 public:
  StoppedRelay() { relay_.signal(SIGSTOP); }
  ~StoppedRelay() {
    relay_.signal(SIGCONT);
    relay_.signal(SIGKILL);
    relay_.wait_exit(10s);
  }
  std::string target() const { return relay_.target(); }

 private:
  RelayProcess relay_;
};

// A relay that opens Chat streams but does not end them when the client
// half-closes, so that relay-chat's stop() has to cancel its own stream.
class RelayKeepingStreamsOpen final : public relay::v1::Relay::CallbackService {
 public:
  RelayKeepingStreamsOpen() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~RelayKeepingStreamsOpen() override { server_->Shutdown(); }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }

  grpc::ServerBidiReactor<relay::v1::ClientFrame, relay::v1::ServerFrame>* Chat(
      grpc::CallbackServerContext* context) override {
    context->AddInitialMetadata(relay::common::kHelloKey, relay::common::kHelloVersion);
    return new Stream;
  }

 private:
  class Stream final
      : public grpc::ServerBidiReactor<relay::v1::ClientFrame, relay::v1::ServerFrame> {
   public:
    Stream() {
      StartSendInitialMetadata();
      StartRead(&frame_);
    }
    void OnReadDone(bool ok) override {
      if (ok) {
        StartRead(&frame_);
      }
    }
    void OnCancel() override { Finish(grpc::Status::CANCELLED); }
    void OnDone() override { delete this; }

   private:
    relay::v1::ClientFrame frame_;
  };

  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// Every mode that ends by itself, with its stdin.
struct Mode {
  std::vector<std::string> args;
  std::string input;
};
const std::vector<Mode> kEndingModes = {{{"rooms"}, ""},
                                        {{"who", "lobby"}, ""},
                                        {{"history", "lobby"}, ""},
                                        {{"send", "lobby"}, "a\nb\n"},
                                        {{"--plain", "--room", "lobby"}, ""},
                                        {{"--plain", "--room", "lobby"}, "a\n"},
                                        {{"health"}, ""}};

std::string describe(const Mode& mode) {
  std::string text;
  for (const auto& arg : mode.args) {
    text += arg + " ";
  }
  return text + (mode.input.empty() ? "< /dev/null" : "< lines");
}

// Runs every mode at once against `target`, so that a test waits for the
// slowest one rather than for their sum.
std::vector<std::unique_ptr<ChildProcess>> start_all(const std::string& target,
                                                     const std::vector<std::string>& extra,
                                                     const std::vector<Mode>& modes) {
  std::vector<std::unique_ptr<ChildProcess>> children;
  for (const auto& mode : modes) {
    auto args = extra;
    args.insert(args.end(), mode.args.begin(), mode.args.end());
    children.push_back(std::make_unique<ChildProcess>(chat(target, args), mode.input));
  }
  return children;
}

bool wait_for_error_output(const ChildProcess& child, const std::string& text,
                           std::chrono::milliseconds timeout) {
  return wait_until([&] { return child.err().find(text) != std::string::npos; }, timeout);
}

}  // namespace

TEST_CASE("plain mode publishes stdin lines, exits 0 once acknowledged, and follow prints them") {
  RelayProcess relay;
  ChildProcess follower(chat(relay.target(), {"follow", "r"}), "");
  // The follower is live once it has joined; it says so on stderr.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (follower.err().find("joined #r") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE(follower.err().find("joined #r") != std::string::npos);

  ChildProcess sender(chat(relay.target(), {"--plain", "--room", "r", "--user", "ann"}), "a\nb\n");
  REQUIRE(sender.wait_exit(20s) == 0);
  CHECK(sender.out().find("[r] #1 ann: a") != std::string::npos);
  CHECK(sender.out().find("[r] #2 ann: b") != std::string::npos);

  REQUIRE(follower.wait_for_output("[r] #2 ann: b", 10s));
  CHECK(follower.out() == "[r] #1 ann: a\n[r] #2 ann: b\n");
  follower.signal(SIGINT);
  CHECK(follower.wait_exit(10s) == 130);
}

TEST_CASE("follow --presence prints who joins and leaves, and follow alone only messages") {
  RelayProcess relay;
  ChildProcess watcher(chat(relay.target(), {"follow", "r", "--presence", "--json"}), "");
  ChildProcess tail(chat(relay.target(), {"follow", "r", "--json"}), "");
  for (ChildProcess* follower : {&watcher, &tail}) {
    REQUIRE(follower->wait_for_output(R"("type":"joined")", 10s));
  }

  ChildProcess sender(chat(relay.target(), {"--plain", "--room", "r", "--user", "ann"}), "hi\n");
  REQUIRE(sender.wait_exit(20s) == 0);
  REQUIRE(watcher.wait_for_output(R"("event":"left")", 10s));
  CHECK(watcher.out().find(R"("event":"joined")") < watcher.out().find(R"("event":"left")"));
  CHECK(watcher.out().find(R"("user":"ann")") != std::string::npos);

  // send joins nothing: its message comes after whatever tail was given about ann.
  ChildProcess marker(chat(relay.target(), {"send", "r"}), "marker\n");
  REQUIRE(marker.wait_exit(20s) == 0);
  REQUIRE(tail.wait_for_output(R"("body":"marker")", 10s));
  CHECK(tail.out().find(R"("body":"hi")") != std::string::npos);
  CHECK(tail.out().find("presence") == std::string::npos);

  for (ChildProcess* follower : {&watcher, &tail}) {
    follower->signal(SIGINT);
    CHECK(follower->wait_exit(10s) == 130);
  }
}

TEST_CASE("--json prints one JSON object per delivered message") {
  RelayProcess relay;
  ChildProcess sender(chat(relay.target(), {"--json", "--room", "r", "--user", "ann"}), "hello\n");
  REQUIRE(sender.wait_exit(20s) == 0);
  CHECK(sender.out().find(R"("body":"hello")") != std::string::npos);
  CHECK(sender.out().find(R"("type":"message")") != std::string::npos);
}

TEST_CASE("at a clean end of input, stopping reports no error, even when it cancels the stream") {
  RelayKeepingStreamsOpen relay;
  ChildProcess sender(chat(relay.target(), {"--json", "--room", "r"}), "");
  REQUIRE(sender.wait_exit(20s) == 0);
  CAPTURE(sender.out());
  CAPTURE(sender.err());
  CHECK(sender.out().find(R"("state":"closed")") != std::string::npos);
  CHECK(sender.out().find("CANCELLED") == std::string::npos);
  CHECK(sender.err().find("CANCELLED") == std::string::npos);
}

TEST_CASE("plain mode exits non-zero with the reason when the relay refuses a line") {
  RelayProcess relay({"--max-body-bytes", "10"});
  ChildProcess sender(chat(relay.target(), {"--plain", "--room", "r"}), "this line is too long\n");
  REQUIRE(sender.wait_exit(20s) == 1);
  CHECK(sender.err().find("INVALID_ARGUMENT") != std::string::npos);
  CHECK(sender.err().find("the relay refused 1 line\n") != std::string::npos);
}

TEST_CASE("send publishes a file in one batch and prints the summary") {
  RelayProcess relay;
  ChildProcess sender(chat(relay.target(), {"send", "r"}), "one\ntwo\n\nthree\n");
  REQUIRE(sender.wait_exit(20s) == 0);
  CHECK(sender.out() == "3 accepted, 0 rejected (#1..#3)\n");
  ChildProcess history(chat(relay.target(), {"history", "r", "-n", "2"}), "");
  REQUIRE(history.wait_exit(20s) == 0);
  CHECK(history.out().find("#2") != std::string::npos);
  CHECK(history.out().find("three") != std::string::npos);
  CHECK(history.out().find("one") == std::string::npos);
  // The room lives on its history, with nobody in it: who says so rather
  // than printing nothing.
  ChildProcess who(chat(relay.target(), {"who", "r"}), "");
  REQUIRE(who.wait_exit(20s) == 0);
  CHECK(who.out() == "no members\n");
}

TEST_CASE("a bad flag exits 2 with a message") {
  RelayProcess relay;
  ChildProcess bad(chat(relay.target(), {"--room", "bad room"}), "");
  CHECK(bad.wait_exit(10s) == 2);
  CHECK_FALSE(bad.err().empty());
}

TEST_CASE("plain mode paces itself to the relay's announced rate: every line is accepted") {
  RelayProcess relay({"--publish-rate-per-second", "100", "--publish-burst", "10"});
  std::string lines;
  for (int i = 0; i < 150; ++i) {
    lines += "line " + std::to_string(i) + "\n";
  }
  ChildProcess sender(chat(relay.target(), {"--plain", "--room", "r"}), lines);
  REQUIRE(sender.wait_exit(30s) == 0);
  CHECK(sender.out().find("#150 ") != std::string::npos);
  CHECK(sender.err().find("RESOURCE_EXHAUSTED") == std::string::npos);
}

TEST_CASE("a line over the relay's announced body limit is refused at once, and the rest go on") {
  RelayProcess relay({"--max-body-bytes", "100"});
  ChildProcess sender(chat(relay.target(), {"--plain", "--room", "r"}),
                      "short\n" + std::string(500, 'x') + "\nafter\n");
  REQUIRE(sender.wait_exit(20s) == 1);
  CHECK(sender.out().find("#2 ") != std::string::npos);
  CHECK(sender.out().find("after") != std::string::npos);
}

TEST_CASE(
    "with nothing listening, every mode says it cannot reach the relay and why, within --timeout") {
  const std::string target = address_with_nothing();
  auto children = start_all(target, {"--timeout", "3"}, kEndingModes);
  ChildProcess follow(chat(target, {"--timeout", "3", "follow", "lobby"}), "");
  const auto started = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < children.size(); ++i) {
    const auto& mode = kEndingModes[i];
    CAPTURE(describe(mode));
    CHECK(children[i]->wait_exit(5s) == 1);
    const std::string err = children[i]->err();
    CAPTURE(err);
    CHECK(err.find("cannot reach a relay at " + target + ": ") != std::string::npos);
    if (mode.args.front() != "--plain") {
      // A refused connection is the reason given, not a timeout.
      CHECK(err.find("refused") != std::string::npos);
    }
  }
  // The one-shot commands do not wait out --timeout for a refused connection.
  CHECK(std::chrono::steady_clock::now() - started < 4500ms);
  // follow keeps retrying, and says why it cannot follow meanwhile.
  CHECK(wait_for_error_output(follow, "cannot reach a relay at " + target + ": ", 4s));
  CHECK_FALSE(follow.wait_exit(0ms).has_value());
  follow.signal(SIGTERM);
  CHECK(follow.wait_exit(2s) == 143);
}

TEST_CASE("with a relay that never answers, every mode ends within --timeout and says so") {
  StoppedRelay relay;
  auto children = start_all(relay.target(), {"--timeout", "2"}, kEndingModes);
  ChildProcess follow(chat(relay.target(), {"--timeout", "2", "follow", "lobby"}), "");
  for (std::size_t i = 0; i < children.size(); ++i) {
    CAPTURE(describe(kEndingModes[i]));
    CHECK(children[i]->wait_exit(4s) == 1);
    CAPTURE(children[i]->err());
    CHECK(children[i]->err().find("cannot reach a relay at " + relay.target() + ": ") !=
          std::string::npos);
  }
  CHECK(wait_for_error_output(follow, "cannot reach a relay at " + relay.target() + ": ", 4s));
  follow.signal(SIGINT);
  CHECK(follow.wait_exit(2s) == 130);
}

TEST_CASE("SIGINT and SIGTERM end every mode within a second, with 130 and 143 and a message") {
  StoppedRelay relay;
  auto modes = kEndingModes;
  modes.push_back({{"follow", "lobby"}, ""});
  for (const auto& [signal, code, name] :
       {std::tuple{SIGINT, 130, "SIGINT"}, std::tuple{SIGTERM, 143, "SIGTERM"}}) {
    CAPTURE(name);
    auto children = start_all(relay.target(), {"--timeout", "60"}, modes);
    // Nothing shows when each one is waiting for the relay: give them the
    // time to get there, so that the signal meets the wait, not the start-up.
    std::this_thread::sleep_for(500ms);
    for (auto& child : children) {
      child->signal(signal);
    }
    for (std::size_t i = 0; i < children.size(); ++i) {
      CAPTURE(describe(modes[i]));
      CHECK(children[i]->wait_exit(1500ms) == code);
      CHECK(children[i]->err().find(name) != std::string::npos);
    }
  }
}

TEST_CASE("send ends when its relay stops answering in the middle of a batch") {
  // Paced at 20 messages/s, the batch flows for far longer than the test.
  RelayProcess relay({"--publish-rate-per-second", "20", "--publish-burst", "1"});
  ChildProcess follower(chat(relay.target(), {"follow", "r"}), "");
  std::string lines;
  for (int i = 0; i < 1000; ++i) {
    lines += "line " + std::to_string(i) + "\n";
  }
  ChildProcess sender(chat(relay.target(), {"--timeout", "2", "send", "r"}), lines);
  REQUIRE(follower.wait_for_output("#3 ", 10s));
  relay.signal(SIGSTOP);
  const auto exit_code = sender.wait_exit(6s);
  relay.signal(SIGCONT);
  CHECK(exit_code == 1);
  CHECK(sender.err().find("cannot reach a relay at " + relay.target() + ": ") != std::string::npos);
}

TEST_CASE("send with its input still open ends when the relay stops answering") {
  // stdin is a FIFO that the test keeps open for writing: a read of it never
  // ends by itself, as with `tail -f log | relay-chat send ci`.
  const auto fifo =
      std::filesystem::temp_directory_path() / ("relay-chat-stdin-" + std::to_string(::getpid()));
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const int held_open = ::open(fifo.c_str(), O_RDWR | O_CLOEXEC);
  REQUIRE(held_open >= 0);
  RelayProcess relay;
  std::string command = "exec";
  for (const auto& arg : chat(relay.target(), {"--timeout", "2", "send", "lobby"})) {
    command += " '" + arg + "'";
  }
  ChildProcess sender({"/bin/sh", "-c", command + " < '" + fifo.string() + "'"}, "");
  REQUIRE(::write(held_open, "first\n", 6) == 6);
  std::this_thread::sleep_for(500ms);  // lets the line reach the relay before it stops
  relay.signal(SIGSTOP);
  const auto exit_code = sender.wait_exit(6s);
  relay.signal(SIGCONT);
  CHECK(exit_code == 1);
  CHECK(sender.err().find("cannot reach a relay at " + relay.target() + ": ") != std::string::npos);
  ::close(held_open);
  std::filesystem::remove(fifo);
}

TEST_CASE("history -n N beyond the relay's per-call limit prints the newest N, in order") {
  RelayProcess relay;
  std::string lines;
  for (int i = 1; i <= 150; ++i) {
    lines += "line " + std::to_string(i) + "\n";
  }
  ChildProcess sender(chat(relay.target(), {"--user", "ann", "send", "r"}), lines);
  REQUIRE(sender.wait_exit(20s) == 0);
  REQUIRE(sender.out() == "150 accepted, 0 rejected (#1..#150)\n");

  for (const int count : {150, 101, 5}) {
    CAPTURE(count);
    std::string expected;
    for (int i = 151 - count; i <= 150; ++i) {
      expected += "[r] #" + std::to_string(i) + " ann: line " + std::to_string(i) + "\n";
    }
    ChildProcess history(chat(relay.target(), {"history", "r", "-n", std::to_string(count)}), "");
    REQUIRE(history.wait_exit(20s) == 0);
    CHECK(history.out() == expected);
  }
}

TEST_CASE("a $USER that is no valid name is mapped to one, and relay-chat says so once") {
  RelayProcess relay;
  std::vector<std::string> args = chat(relay.target(), {"send", "r"});
  args.insert(args.begin(), {"/usr/bin/env", "USER=jane@corp.com"});
  ChildProcess sender(args, "hello\n");
  REQUIRE(sender.wait_exit(20s) == 0);
  const std::string notice = R"($USER "jane@corp.com" is not a valid user name)";
  const std::string err = sender.err();
  CHECK(err.find(notice) != std::string::npos);
  CHECK(err.find(notice) == err.rfind(notice));
  CHECK(err.find(R"(using "jane_corp.com")") != std::string::npos);

  ChildProcess history(chat(relay.target(), {"--user", "ann", "history", "r"}), "");
  REQUIRE(history.wait_exit(20s) == 0);
  CHECK(history.out() == "[r] #1 jane_corp.com: hello\n");

  // A name given with --user leaves $USER unread.
  args.insert(args.end() - 2, {"--user", "jane"});
  ChildProcess named(args, "again\n");
  REQUIRE(named.wait_exit(20s) == 0);
  CHECK(named.err().find("$USER") == std::string::npos);
}
