// nats-positions: what each way of numbering a room's messages costs in
// JetStream (issue 13). bench/nats_positions.sh starts the server, runs
// this once per layout, size and repetition, and prints the table.
#include <cstdio>
#include <iostream>
#include <map>

#include <CLI/CLI.hpp>

#include "phases.hpp"

int main(int argc, char** argv) {
  using relay::bench::nats_positions::Layout;
  relay::bench::nats_positions::Options options;
  CLI::App app("Measures room positions on NATS JetStream; prints one JSON object.");
  app.add_option("--url", options.url, "NATS URL of a server started for this run")->required();
  const std::map<std::string, Layout> layouts{{"one-stream", Layout::one_stream},
                                              {"stream-per-room", Layout::stream_per_room},
                                              {"one-stream-counted", Layout::one_stream_counted}};
  app.add_option("--layout", options.layout, "one-stream, stream-per-room or one-stream-counted")
      ->required()
      ->transform(CLI::CheckedTransformer(layouts));
  app.add_option("--rooms", options.rooms, "Rooms created")->check(CLI::Range(1, 1'000'000));
  app.add_option("--messages", options.messages, "Messages published round-robin over the rooms");
  app.add_option("--window", options.window, "Publishes awaiting their ack at most")
      ->check(CLI::Range(1, 100'000));
  app.add_option("--consumers", options.consumers, "Rooms with a consumer in the consumers phase");
  app.add_option("--consumer-messages", options.consumer_messages,
                 "Messages published while those consumers run");
  app.add_option("--samples", options.samples, "Rooms sampled for per-room operations")
      ->check(CLI::Range(1, 10'000));
  app.add_option("--history-per-room", options.history_per_room, "Messages kept per room");
  app.add_option("--server-pid", options.server_pid, "PID of nats-server, for RSS and CPU")
      ->required();
  app.add_option("--store-dir", options.store_dir, "nats-server's -sd directory")->required();
  CLI11_PARSE(app, argc, argv);
  try {
    std::cout << relay::bench::nats_positions::run(options).dump() << std::endl;
  } catch (const std::exception& error) {
    std::cerr << "nats-positions: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
