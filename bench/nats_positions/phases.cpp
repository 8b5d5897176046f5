#include "phases.hpp"

#include <unistd.h>

#include <algorithm>
#include <random>
#include <thread>
#include <vector>

#include "relay_consumers.hpp"
#include "room_reader.hpp"
#include "server_probe.hpp"

#include "relay/backplane/room_subject.hpp"

namespace relay::bench::nats_positions {

using relay::backplane::encode_room;
namespace {

constexpr char kAllRoomsStream[] = "RELAY_ROOMS";
constexpr char kSubjectPrefix[] = "relay.room.";
constexpr std::size_t kHotRoomMessages = 5'000;

double median(std::vector<double> values) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double ms_since(std::int64_t start_ns) { return static_cast<double>(now_ns() - start_ns) / 1e6; }
double us_since(std::int64_t start_ns) { return static_cast<double>(now_ns() - start_ns) / 1e3; }

bool one_stream(Layout layout) { return layout != Layout::stream_per_room; }

void add_stream(jsCtx* context, const std::string& name, const std::string& subject,
                const Options& options) {
  jsStreamConfig config;
  check(jsStreamConfig_Init(&config), "jsStreamConfig_Init");
  config.Name = name.c_str();
  const char* subjects[] = {subject.c_str()};
  config.Subjects = subjects;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  // Direct gets (next message on a subject from a sequence) are what finds a
  // counted room's message by its counter.
  config.AllowDirect = true;
  // The room's history limit: per subject in a shared stream, per stream
  // otherwise.
  if (one_stream(options.layout)) {
    config.MaxMsgsPerSubject = static_cast<std::int64_t>(options.history_per_room);
  } else {
    config.MaxMsgs = static_cast<std::int64_t>(options.history_per_room);
  }
  jsErrCode code{};
  check(js_AddStream(nullptr, context, &config, nullptr, &code), "js_AddStream " + name, code);
}

}  // namespace

nlohmann::json run(const Options& options) {
  ConnectionPtr connection = connect(options.url);
  RoomSet rooms;
  rooms.layout = options.layout;
  for (std::size_t room = 0; room < options.rooms; ++room) {
    // Room names as the relay allows them today; encoded all the same, as
    // names beyond [A-Za-z0-9_.-] would have to be.
    char name[32];
    std::snprintf(name, sizeof name, "room-%05zu", room);
    const std::string encoded = encode_room(name);
    rooms.subjects.push_back(kSubjectPrefix + encoded);
    rooms.streams.push_back(one_stream(options.layout) ? std::string(kAllRoomsStream)
                                                       : "ROOM_" + encoded);
  }
  rooms.first_sequence.assign(options.rooms, 0);
  rooms.last_sequence.assign(options.rooms, 0);
  rooms.count.assign(options.rooms, 0);
  Publisher publisher(connection.get(), rooms, options.window, options.body_bytes);
  jsCtx* context = publisher.context();
  nlohmann::json result;
  result["rooms"] = options.rooms;
  result["messages"] = options.messages;
  result["window"] = options.window;

  // Rooms: a relay creates the room's stream (if any) and publishes its first
  // message, waiting for the ack.
  const ServerSample at_start = sample_process(options.server_pid);
  double streams_ms = 0;
  std::int64_t start_ns = now_ns();
  if (one_stream(options.layout)) {
    add_stream(context, kAllRoomsStream, std::string(kSubjectPrefix) + ">", options);
  }
  std::size_t created_rooms = 0;
  std::string create_error;
  try {
    for (; created_rooms < options.rooms; ++created_rooms) {
      if (!one_stream(options.layout)) {
        const std::int64_t stream_start_ns = now_ns();
        add_stream(context, rooms.streams[created_rooms], rooms.subjects[created_rooms], options);
        streams_ms += ms_since(stream_start_ns);
      }
      publisher.publish_first(created_rooms);
    }
  } catch (const NatsFailure& failure) {
    // A server that cannot hold the rooms is a result, not a broken run.
    create_error = failure.what();
  }
  const double create_ms = ms_since(start_ns);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const ServerSample created = sample_process(options.server_pid);
  const StoreSize created_store = store_size(options.store_dir);
  result["create"] = {{"created_rooms", created_rooms},
                      {"server_rss_kib", created.rss_kib},
                      {"server_rss_growth_kib", created.rss_kib - at_start.rss_kib},
                      {"server_cpu_ms", created.cpu_ms - at_start.cpu_ms},
                      {"server_open_files", created.open_files},
                      {"store_bytes", created_store.bytes},
                      {"store_files", created_store.files}};
  if (!create_error.empty()) {
    result["create"]["error"] = create_error;
    result["create"]["failed_after_ms"] = create_ms;
    return result;
  }
  result["create"]["total_ms"] = create_ms;
  result["create"]["add_stream_ms"] = streams_ms;

  // Publishing with every room active, round-robin.
  const PublishStats stats = publisher.publish("m", options.messages, options.rooms);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const ServerSample published = sample_process(options.server_pid);
  const StoreSize published_store = store_size(options.store_dir);
  result["publish"] = {
      {"seconds", stats.seconds},
      {"per_second", stats.messages_per_second},
      {"ack_p50_us", stats.ack_p50_us},
      {"ack_p99_us", stats.ack_p99_us},
      {"errors", stats.errors},
      {"duplicates", stats.duplicates},
      {"server_cpu_us_per_message", static_cast<double>(published.cpu_ms - created.cpu_ms) *
                                        1000.0 / static_cast<double>(options.messages)},
      {"server_rss_kib", published.rss_kib},
      {"store_bytes", published_store.bytes}};

  // One busy room: with a counter its publishes go one at a time.
  const PublishStats hot = publisher.publish("h", kHotRoomMessages, 1);
  result["one_room"] = {{"per_second", hot.messages_per_second},
                        {"ack_p50_us", hot.ack_p50_us},
                        {"ack_p99_us", hot.ack_p99_us},
                        {"errors", hot.errors}};

  std::mt19937 random(13);
  std::vector<std::size_t> sample;
  for (std::size_t index = 0; index < options.samples; ++index) {
    sample.push_back(std::uniform_int_distribution<std::size_t>(0, options.rooms - 1)(random));
  }
  const std::uint64_t stream_last =
      *std::max_element(rooms.last_sequence.begin(), rooms.last_sequence.end());

  // A room's last position: the last message on its subject, or the state of
  // its stream.
  std::vector<double> by_subject_us;
  std::vector<double> stream_info_us;
  std::uint64_t wrong = 0;
  for (const std::size_t room : sample) {
    start_ns = now_ns();
    natsMsg* raw = nullptr;
    jsErrCode code{};
    check(js_GetLastMsg(&raw, context, rooms.streams[room].c_str(), rooms.subjects[room].c_str(),
                        nullptr, &code),
          "js_GetLastMsg", code);
    MessagePtr last(raw);
    by_subject_us.push_back(us_since(start_ns));
    wrong += stream_sequence(last.get()) != rooms.last_sequence[room] ? 1 : 0;

    start_ns = now_ns();
    jsStreamInfo* info = nullptr;
    check(js_GetStreamInfo(&info, context, rooms.streams[room].c_str(), nullptr, &code),
          "js_GetStreamInfo", code);
    StreamInfoPtr owned(info);
    stream_info_us.push_back(us_since(start_ns));
    if (!one_stream(options.layout)) {
      wrong += info->State.LastSeq != rooms.last_sequence[room] ? 1 : 0;
    }
  }
  result["last_position"] = {{"get_last_by_subject_us", median(by_subject_us)},
                             {"stream_info_us", median(stream_info_us)},
                             {"wrong", wrong}};

  // Starting delivery of a room: an ordered consumer from the room's last
  // message, until that message arrives.
  std::vector<double> start_us;
  for (const std::size_t room : sample) {
    start_ns = now_ns();
    SubscriptionPtr subscription = subscribe_ordered(
        context, rooms, room,
        one_stream(options.layout) ? js_DeliverLastPerSubject : js_DeliverLast, 0);
    MessagePtr first = next_message(subscription.get());
    start_us.push_back(us_since(start_ns));
  }
  result["start_delivery_us"] = median(start_us);

  // Resuming a room from its first message: everything after it, until the
  // room's last message. With one stream the server walks the stream from
  // there and skips other rooms' messages.
  std::vector<double> resume_ms;
  std::vector<double> delivered;
  std::vector<double> spanned;
  for (const std::size_t room : sample) {
    start_ns = now_ns();
    SubscriptionPtr subscription = subscribe_ordered(
        context, rooms, room, js_DeliverByStartSequence, rooms.first_sequence[room] + 1);
    std::size_t count = 0;
    for (;;) {
      MessagePtr message = next_message(subscription.get());
      ++count;
      if (stream_sequence(message.get()) >= rooms.last_sequence[room]) {
        break;
      }
    }
    resume_ms.push_back(ms_since(start_ns));
    delivered.push_back(static_cast<double>(count));
    spanned.push_back(static_cast<double>(
        one_stream(options.layout) ? stream_last - rooms.first_sequence[room] : count));
  }
  if (options.layout == Layout::one_stream_counted) {
    // The client names the room's counter; the relay needs the stream
    // sequence to start from.
    std::vector<double> lookup_us;
    std::vector<double> probes;
    std::uint64_t lookup_wrong = 0;
    for (const std::size_t room : sample) {
      start_ns = now_ns();
      const CounterLookup found =
          find_after_counter(context, rooms.streams[room], rooms.subjects[room], 1, stream_last);
      lookup_us.push_back(us_since(start_ns));
      probes.push_back(found.probes);
      // The room's count limit may have removed counter 2 already (room 0
      // gets the one-room publishes): then the oldest message kept is right.
      const std::uint64_t oldest_kept = rooms.count[room] > options.history_per_room
                                            ? rooms.count[room] - options.history_per_room + 1
                                            : 1;
      lookup_wrong += found.counter == std::max<std::uint64_t>(2, oldest_kept) ? 0 : 1;
    }
    result["counter_lookup"] = {
        {"us", median(lookup_us)}, {"probes", median(probes)}, {"wrong", lookup_wrong}};
  }
  result["resume"] = {{"ms", median(resume_ms)},
                      {"messages_delivered", median(delivered)},
                      {"stream_messages_spanned", median(spanned)}};

  // Many rooms on one relay: a subject-filtered ordered consumer per room
  // with a local subscriber, against (one stream only) a single consumer
  // for every room whose messages the relay filters itself.
  const std::size_t consumers = std::min(options.consumers, options.rooms);
  std::uint64_t expected = 0;
  for (std::size_t index = 0; index < options.consumer_messages; ++index) {
    expected += index % options.rooms < consumers ? 1 : 0;
  }
  {
    Deliveries deliveries;
    const ServerSample before = sample_process(options.server_pid);
    const std::int64_t own_rss_before_kib = sample_process(getpid()).rss_kib;
    std::vector<SubscriptionPtr> subscriptions;
    start_ns = now_ns();
    for (std::size_t room = 0; room < consumers; ++room) {
      subscriptions.push_back(
          subscribe_new(context, rooms.streams[room].c_str(), rooms.subjects[room], deliveries));
    }
    const double created_ms = ms_since(start_ns);
    result["per_room_consumers"] = feed_consumers(options, publisher, "k", expected, deliveries,
                                                  created_ms, before, own_rss_before_kib);
  }
  if (one_stream(options.layout)) {
    Deliveries deliveries;
    const ServerSample before = sample_process(options.server_pid);
    const std::int64_t own_rss_before_kib = sample_process(getpid()).rss_kib;
    start_ns = now_ns();
    SubscriptionPtr subscription =
        subscribe_new(context, kAllRoomsStream, std::string(kSubjectPrefix) + ">", deliveries);
    const double created_ms = ms_since(start_ns);
    result["wildcard_consumer"] =
        feed_consumers(options, publisher, "w", options.consumer_messages, deliveries, created_ms,
                       before, own_rss_before_kib);
  }
  return result;
}

}  // namespace relay::bench::nats_positions
