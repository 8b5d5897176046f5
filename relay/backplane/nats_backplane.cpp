#include "relay/backplane/nats_backplane.hpp"

#include <nats/nats.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <optional>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "common/descriptors.hpp"
#include "common/validation.hpp"
#include "relay/backplane/room_subject.hpp"

namespace relay::backplane {
namespace {

// A socket's address as getsockname or getpeername gives it.
std::optional<common::IpAndPort> socket_address(int fd, int (*query)(int, sockaddr*, socklen_t*)) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (query(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return std::nullopt;
  }
  return common::ip_and_port(address);
}

constexpr char kMsgIdHeader[] = "Nats-Msg-Id";
constexpr char kExpectedLastSubjectSequence[] = "Nats-Expected-Last-Subject-Sequence";
constexpr char kEpochHeader[] = "Relay-Room-Epoch";
constexpr char kCounterHeader[] = "Relay-Room-Seq";
constexpr char kSenderHeader[] = "Relay-Sender";
constexpr char kClientIdHeader[] = "Relay-Message-Id";
// <relay instance>/<publish number>: which relay published, to answer it.
constexpr char kOriginHeader[] = "Relay-Origin";
constexpr std::size_t kMaxDeliveredEarly = 4096;

// Another relay's publish to the same room got in first, every time: the room
// is contended beyond what a chat room sees, so the client hears UNAVAILABLE.
constexpr int kMaxAttempts = 16;
// Set-up is tried again this long after the broker refused it, doubling up
// to the longest wait: a refusal that lasts (a stream made by someone else
// with another configuration, say) logs a line per half minute at most.
constexpr auto kSetUpRetry = std::chrono::seconds(1);
constexpr auto kLongestSetUpRetry = std::chrono::seconds(30);
// A NATS cluster that is still forming (started with the relays, say)
// refuses a replicated stream for want of peers for some seconds: set-up is
// tried again each second for this many tries, so the relay serves within a
// second of the cluster, before the wait doubles as for any refusal.
constexpr int kClusterFormingRetries = 30;
// A server that has answered none of the relay's set-up requests for this
// long is left for another: a NATS node once took no consumer request for
// 90 s while its cluster served (docs/NOTES.md), and libnats only moves on
// when the connection breaks.
constexpr auto kLeaveServerAfter = std::chrono::seconds(10);
constexpr auto kPingInterval = std::chrono::milliseconds(10000);
// While a relay reads the stream before serving, it asks this often whether
// what is left to read has gone from the stream meanwhile.
constexpr auto kCatchUpCheck = std::chrono::seconds(1);
// The server says the consumer is alive this often while nothing flows; two
// missed and libnats reports it, and the relay reads on with a new consumer.
constexpr auto kConsumerHeartbeat = std::chrono::milliseconds(2000);
// A relay gone without a goodbye leaves its consumer on the server this long.
constexpr auto kConsumerInactiveThreshold = std::chrono::milliseconds(30000);
constexpr auto kRefusalLogInterval = std::chrono::seconds(10);
constexpr auto kLatencyLogInterval = std::chrono::seconds(60);
// Presence: the subject (outside the stream's), how soon a change goes out,
// how often the full state does, and how long another relay's word lasts.
constexpr char kPresenceSubject[] = "relay.presence";
constexpr auto kPresenceDelay = std::chrono::milliseconds(100);
constexpr auto kPresenceInterval = std::chrono::seconds(5);
constexpr auto kPresenceExpiry = std::chrono::seconds(15);
// NATS refuses messages above 1 MiB by default.
constexpr std::size_t kPresenceMessageBytes = 256 * 1024;
// The headers a message carries besides its body, for the stream's MaxMsgSize.
constexpr std::int64_t kHeaderAllowance = 2048;
constexpr std::int64_t kNanosPerMilli = 1000 * 1000;
constexpr std::int64_t kShortestDuplicateWindowMs = 100;

std::int64_t steady_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string random_origin() {
  std::random_device random;
  return fmt::format("{:08x}{:08x}", random(), random());
}

std::string last_error(natsStatus status) {
  const char* detail = nats_GetLastError(nullptr);
  return detail != nullptr && *detail != '\0' ? detail : natsStatus_GetText(status);
}

std::uint64_t header_number(natsMsg* message, const char* key) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(message, key, &value) != NATS_OK || value == nullptr) {
    return 0;
  }
  std::uint64_t number = 0;
  const std::string_view text(value);
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  return error == std::errc{} && end == text.data() + text.size() ? number : 0;
}

std::string header_text(natsMsg* message, const char* key) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(message, key, &value) != NATS_OK || value == nullptr) {
    return {};
  }
  return value;
}

struct MessageDeleter {
  void operator()(natsMsg* message) const { natsMsg_Destroy(message); }
};
using MessagePtr = std::unique_ptr<natsMsg, MessageDeleter>;

}  // namespace

NatsBackplane::Worker::Worker()
    : thread_([this] {
        std::unique_lock lock(mutex_);
        while (!stopping_) {
          if (tasks_.empty()) {
            changed_.wait(lock);
            continue;
          }
          const auto next =
              std::min_element(tasks_.begin(), tasks_.end(),
                               [](const Task& a, const Task& b) { return a.due < b.due; });
          if (next->due > std::chrono::steady_clock::now()) {
            changed_.wait_until(lock, next->due);
            continue;
          }
          auto run = std::move(next->run);
          tasks_.erase(next);
          lock.unlock();
          run();
          lock.lock();
        }
      }) {}

NatsBackplane::Worker::~Worker() { stop(); }

void NatsBackplane::Worker::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void NatsBackplane::Worker::post(std::function<void()> task, std::chrono::milliseconds delay) {
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back({std::chrono::steady_clock::now() + delay, std::move(task)});
  }
  changed_.notify_all();
}

NatsBackplane::NatsBackplane(const common::RelayConfig& config, hub::Hub& hub)
    : config_(config),
      hub_(hub),
      subject_prefix_("relay.room."),
      origin_(random_origin()),
      set_up_retry_(kSetUpRetry) {
  natsOptions* options = nullptr;
  if (natsOptions_Create(&options) != NATS_OK) {
    throw std::runtime_error("cannot set up the NATS client: " + last_error(NATS_NO_MEMORY));
  }
  std::unique_ptr<natsOptions, void (*)(natsOptions*)> owned(options, natsOptions_Destroy);
  std::vector<std::string> urls;
  for (std::size_t start = 0; start <= config.nats_url.size();) {
    const auto comma = std::min(config.nats_url.find(',', start), config.nats_url.size());
    urls.push_back(config.nats_url.substr(start, comma - start));
    start = comma + 1;
  }
  std::vector<const char*> servers;
  for (const auto& url : urls) {
    servers.push_back(url.c_str());
  }
  natsOptions_SetServers(options, servers.data(), static_cast<int>(servers.size()));
  natsOptions_SetName(options, "relay-server");
  // Without it the client holds writes back about a millisecond to group
  // them: a millisecond on every publish's round trip.
  natsOptions_SetSendAsap(options, true);
  // For ever: a relay without its broker only waits, and says so on health.
  natsOptions_SetMaxReconnect(options, -1);
  natsOptions_SetCustomReconnectDelay(options, &NatsBackplane::reconnect_delay, this);
  natsOptions_SetRetryOnFailedConnect(options, true, &NatsBackplane::on_connected, this);
  natsOptions_SetDisconnectedCB(options, &NatsBackplane::on_disconnected, this);
  natsOptions_SetReconnectedCB(options, &NatsBackplane::on_reconnected, this);
  natsOptions_SetErrorHandler(options, &NatsBackplane::on_async_error, this);
  natsOptions_SetTimeout(options, 2000);
  // A server gone without closing its connections (a host powered off, a
  // partition) is noticed only when PINGs go unanswered: with libnats's
  // default (every 2 min, two missed) a relay would stay on a dead
  // connection for minutes, even after the server was back.
  natsOptions_SetPingInterval(options, kPingInterval.count());
  natsOptions_SetMaxPingsOut(options, 2);

  const natsStatus status = natsConnection_Connect(&connection_, options);
  if (status != NATS_OK && status != NATS_NOT_YET_CONNECTED) {
    throw std::runtime_error("cannot use the NATS servers " + config.nats_url + ": " +
                             last_error(status));
  }
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = config.nats_publish_timeout_ms;
  // Each room has one publish in flight per relay, so this bounds nothing the
  // relay relies on; publishes must never stall in the library.
  js_options.PublishAsync.MaxPending = std::numeric_limits<int32_t>::max();
  js_options.PublishAsync.AckHandler = &NatsBackplane::on_ack;
  js_options.PublishAsync.AckHandlerClosure = this;
  if (natsConnection_JetStream(&jetstream_, connection_, &js_options) != NATS_OK) {
    natsConnection_Destroy(connection_);
    throw std::runtime_error("cannot set up JetStream: " + last_error(NATS_ERR));
  }
  if (status == NATS_OK) {
    connected_ = true;
    spdlog::info("NATS: connected to {}", config.nats_url);
    worker_.post([this] { set_up(); });
  } else {
    spdlog::warn("NATS: no server of {} answers yet; not serving until one does", config.nats_url);
  }
  worker_.post([this] { log_broker_latency(); }, kLatencyLogInterval);
  hub_.on_local_members_changed([this](const std::string& room) { local_members_changed(room); });
  worker_.post([this] { presence_tick(); }, kPresenceInterval);
}

NatsBackplane::~NatsBackplane() {
  // No call is left to join or leave (see Backplane's destructor).
  hub_.on_local_members_changed({});
  closing_ = true;
  connected_ = false;
  // Requests the worker is waiting on fail at once, so it stops promptly.
  natsConnection_Close(connection_);
  worker_.stop();
  {
    std::lock_guard lock(consumer_mutex_);
    if (subscription_ != nullptr) {
      natsSubscription_Destroy(subscription_);
      subscription_ = nullptr;
    }
  }
  natsSubscription_Destroy(presence_subscription_);
  // Whatever the broker had not answered is answered now: not stored, as far
  // as this relay knows (a resend with the same id is recognised if it was).
  std::vector<Pending> unanswered;
  {
    std::lock_guard lock(mutex_);
    for (auto& [message, in_flight] : sent_) {
      unanswered.push_back(std::move(in_flight.pending));
    }
    sent_.clear();
    for (auto& [number, stored] : stored_) {
      unanswered.push_back(std::move(stored.pending));
    }
    stored_.clear();
    for (auto& [room, lane] : lanes_) {
      for (auto& pending : lane.waiting) {
        unanswered.push_back(std::move(pending));
      }
    }
    lanes_.clear();
  }
  for (auto& pending : unanswered) {
    pending.done(hub::PublishResult{.unavailable = true});
  }
  jsCtx_Destroy(jetstream_);
  natsConnection_Destroy(connection_);
  // The library's threads may still be inside a callback that uses `this`.
  nats_CloseAndWait(5000);
}

bool NatsBackplane::serving() const { return connected_ && caught_up_; }

BackplaneStats NatsBackplane::stats() const {
  const std::uint64_t starts = consumer_starts_.load();
  BackplaneStats stats{.refused_publishes = refused_.load(),
                       .disconnects = disconnects_.load(),
                       .consumer_restarts = starts > 0 ? starts - 1 : 0,
                       .servers_left = servers_left_.load()};
  std::lock_guard lock(mutex_);
  stats.acks = acks_;
  stats.ack_seconds_sum = static_cast<double>(ack_sum_us_) / 1e6;
  stats.ack_seconds_p50 = static_cast<double>(ack_p50_us_) / 1e6;
  stats.ack_seconds_p99 = static_cast<double>(ack_p99_us_) / 1e6;
  return stats;
}

void NatsBackplane::log_broker_latency() {
  std::uint64_t count = 0;
  std::uint64_t p50 = 0;
  std::uint64_t p99 = 0;
  std::uint64_t max = 0;
  {
    std::lock_guard lock(mutex_);
    count = ack_latency_.count();
    p50 = ack_latency_.percentile(50);
    p99 = ack_latency_.percentile(99);
    max = ack_latency_.max();
    ack_latency_.reset();
    ack_p50_us_ = p50;
    ack_p99_us_ = p99;
  }
  if (count > 0) {
    spdlog::info(
        "NATS: {} publishes stored in the last {} s; ack after p50 {} us, p99 {} us, max {} us",
        count, kLatencyLogInterval.count(), p50, p99, max);
  }
  worker_.post([this] { log_broker_latency(); }, kLatencyLogInterval);
}

void NatsBackplane::on_connected(natsConnection* /*connection*/, void* self) {
  auto* backplane = static_cast<NatsBackplane*>(self);
  backplane->connected_ = true;
  backplane->connection_generation_.fetch_add(1);
  spdlog::info("NATS: connected to {}", backplane->config_.nats_url);
  backplane->worker_.post([backplane] { backplane->set_up(); });
}

void NatsBackplane::on_disconnected(natsConnection* /*connection*/, void* self) {
  auto* backplane = static_cast<NatsBackplane*>(self);
  if (backplane->closing_) {
    return;
  }
  backplane->connected_ = false;
  backplane->caught_up_ = false;
  backplane->connection_generation_.fetch_add(1);
  backplane->disconnects_.fetch_add(1);
  spdlog::warn("NATS: disconnected; refusing publishes and reconnecting");
}

void NatsBackplane::on_reconnected(natsConnection* connection, void* self) {
  auto* backplane = static_cast<NatsBackplane*>(self);
  char url[256] = "";
  natsConnection_GetConnectedUrl(connection, url, sizeof url);
  backplane->connected_ = true;
  backplane->connection_generation_.fetch_add(1);
  spdlog::info("NATS: reconnected to {}", url);
  backplane->worker_.post([backplane] { backplane->set_up(); });
}

std::int64_t NatsBackplane::reconnect_delay(natsConnection* /*connection*/, int attempts,
                                            void* /*self*/) {
  // 100 ms, doubling to 5 s, with up to a fifth more at random so that a
  // fleet of relays does not knock on a restarted broker all at once.
  const std::int64_t base = std::min<std::int64_t>(100LL << std::min(attempts, 6), 5000);
  return base + static_cast<std::int64_t>(nats_NowInNanoSeconds() % (base / 5 + 1));
}

void NatsBackplane::set_up() {
  if (closing_ || !connected_) {
    return;
  }
  const std::string subjects = subject_prefix_ + ">";
  const char* subject_list[] = {subjects.c_str()};
  jsStreamConfig stream;
  jsStreamConfig_Init(&stream);
  stream.Name = config_.nats_stream.c_str();
  stream.Subjects = subject_list;
  stream.SubjectsLen = 1;
  stream.Storage = js_FileStorage;
  stream.Replicas = static_cast<int64_t>(config_.nats_replicas);
  stream.MaxMsgsPerSubject = static_cast<int64_t>(config_.history_max_messages);
  stream.MaxBytes = config_.history_total_max_bytes == 0
                        ? -1
                        : static_cast<int64_t>(config_.history_total_max_bytes);
  stream.Discard = js_DiscardOld;
  stream.MaxAge = config_.history_max_age_ms * kNanosPerMilli;
  stream.MaxMsgSize = static_cast<int32_t>(
      std::min<std::int64_t>(static_cast<std::int64_t>(config_.max_body_bytes) + kHeaderAllowance,
                             std::numeric_limits<int32_t>::max()));
  // JetStream's own duplicate window, so that a resend is recognised at any
  // relay for as long as one relay alone would recognise it. JetStream has
  // no window below 100 ms; with the relay's off, publishes carry no id.
  // Nor one longer than the messages live: a resend of a message gone is new.
  std::int64_t window_ms =
      std::max<std::int64_t>(config_.duplicate_window_ms, kShortestDuplicateWindowMs);
  if (config_.history_max_age_ms > 0) {
    window_ms = std::min(window_ms, config_.history_max_age_ms);
  }
  stream.Duplicates = window_ms * kNanosPerMilli;
  stream.AllowDirect = true;

  jsStreamInfo* info = nullptr;
  jsErrCode code{};
  natsStatus status = js_AddStream(&info, jetstream_, &stream, nullptr, &code);
  if (status != NATS_OK && code == JSStreamNameExistErr) {
    status = js_UpdateStream(&info, jetstream_, &stream, nullptr, &code);
  }
  if (status != NATS_OK) {
    const bool forming = code == JSClusterNoPeersErr || code == JSClusterNotAvailErr;
    retry_set_up(fmt::format("cannot set up the stream {}: {} (JetStream error {})",
                             config_.nats_stream, last_error(status), static_cast<int>(code)),
                 status == NATS_TIMEOUT && code == 0, forming);
    return;
  }
  const std::uint64_t stream_last = info->State.LastSeq;
  const std::uint64_t stream_messages = info->State.Msgs;
  const std::int64_t stream_created = info->Created;
  jsStreamInfo_Destroy(info);
  if (presence_subscription_ == nullptr &&
      natsConnection_Subscribe(&presence_subscription_, connection_, kPresenceSubject,
                               &NatsBackplane::on_presence, this) != NATS_OK) {
    presence_subscription_ = nullptr;
    retry_set_up("cannot hear other relays' presence: " + last_error(NATS_ERR), false);
    return;
  }

  std::lock_guard lock(consumer_mutex_);
  if ((stream_created_ != 0 && stream_created != stream_created_) ||
      last_delivered_ > stream_last) {
    // The stream was deleted and made again under this relay (an operator's
    // reset, say): its numbering started over, and a consumer after the
    // last message read would wait for ever, with every publish waiting for
    // it. Read from its start; each room's next message starts a numbering
    // of its own (a new epoch), which clients resuming are told of. (A
    // stream restored from a backup under running relays is new to them
    // too: the messages they had read come again, as new ones. Restart the
    // relays after a restore.)
    spdlog::warn(
        "NATS: stream {} was made again (it ends at message {}, this relay had read up "
        "to {}): reading it from its start",
        config_.nats_stream, stream_last, last_delivered_);
    last_delivered_ = 0;
    std::lock_guard heads_lock(mutex_);
    heads_.clear();
  }
  stream_created_ = stream_created;
  if (subscription_ != nullptr) {
    // After a reconnect the server may have lost the consumer with its
    // state; a fresh one from the last message read leaves nothing to chance.
    natsSubscription_Unsubscribe(subscription_);
    natsSubscription_Destroy(subscription_);
    subscription_ = nullptr;
  }
  jsSubOptions options;
  jsSubOptions_Init(&options);
  options.Stream = config_.nats_stream.c_str();
  // A plain push consumer rather than libnats's ordered one: unsubscribing an
  // ordered consumer races the library's own reset of it (a use-after-free
  // in libnats 3.4, seen under ASan). The same guarantees come from here: a
  // gap in the consumer's numbering or missed heartbeats (the consumer was
  // lost with a NATS node) start a new one after the last message read.
  options.ManualAck = true;
  options.Config.AckPolicy = js_AckNone;
  options.Config.Heartbeat = kConsumerHeartbeat.count() * kNanosPerMilli;
  options.Config.InactiveThreshold = kConsumerInactiveThreshold.count() * kNanosPerMilli;
  options.Config.MemoryStorage = true;
  if (last_delivered_ == 0) {
    options.Config.DeliverPolicy = js_DeliverAll;
  } else {
    options.Config.DeliverPolicy = js_DeliverByStartSequence;
    options.Config.OptStartSeq = last_delivered_ + 1;
  }
  status = js_Subscribe(&subscription_, jetstream_, subjects.c_str(), &NatsBackplane::on_message,
                        this, nullptr, &options, &code);
  if (status != NATS_OK) {
    subscription_ = nullptr;
    retry_set_up(fmt::format("cannot read the stream {}: {} (JetStream error {})",
                             config_.nats_stream, last_error(status), static_cast<int>(code)),
                 status == NATS_TIMEOUT && code == 0);
    return;
  }
  set_up_retry_ = kSetUpRetry;
  forming_retries_ = 0;
  unanswered_since_.reset();
  // Messages delivered before a slow consumer limit would be dropped by the
  // client library; the history could then skip. No limit: the hub bounds
  // what it keeps, and the stream what it delivers.
  natsSubscription_SetPendingLimits(subscription_, -1, -1);
  consumer_starts_.fetch_add(1);
  next_consumer_sequence_ = 1;
  resubscribing_ = false;
  catch_up_to_ = stream_last;
  if (last_delivered_ >= stream_last || stream_messages == 0) {
    caught_up_ = true;
    spdlog::info("NATS: serving; stream {} read up to message {}", config_.nats_stream,
                 last_delivered_);
  } else {
    spdlog::info("NATS: reading stream {} from message {} to {} before serving",
                 config_.nats_stream, last_delivered_ + 1, stream_last);
    worker_.post([this] { check_caught_up(); }, kCatchUpCheck);
  }
}

void NatsBackplane::check_caught_up() {
  std::lock_guard lock(consumer_mutex_);
  if (caught_up_ || closing_ || subscription_ == nullptr) {
    return;
  }
  // The last messages may have gone from the stream (their age, its limits)
  // before the consumer delivered them: what is left to read says so.
  jsConsumerInfo* info = nullptr;
  jsErrCode code{};
  if (natsSubscription_GetConsumerInfo(&info, subscription_, nullptr, &code) == NATS_OK) {
    const bool nothing_left = info->NumPending == 0 && info->NumAckPending == 0;
    jsConsumerInfo_Destroy(info);
    if (nothing_left && connected_) {
      caught_up_ = true;
      spdlog::info("NATS: serving; stream {} read up to message {}", config_.nats_stream,
                   last_delivered_);
      return;
    }
  }
  worker_.post([this] { check_caught_up(); }, kCatchUpCheck);
}

void NatsBackplane::local_members_changed(const std::string& room) {
  {
    std::lock_guard lock(presence_mutex_);
    changed_rooms_.insert(room);
    if (presence_flush_due_) {
      return;
    }
    presence_flush_due_ = true;
  }
  // Joins and leaves of the next moment go out together.
  worker_.post([this] { flush_changed_presence(); }, kPresenceDelay);
}

void NatsBackplane::flush_changed_presence() {
  std::unordered_set<std::string> rooms;
  {
    std::lock_guard lock(presence_mutex_);
    rooms.swap(changed_rooms_);
    presence_flush_due_ = false;
  }
  std::vector<std::pair<std::string, hub::UserStreams>> state;
  state.reserve(rooms.size());
  for (const auto& room : rooms) {
    // Empty: nobody here any more, which the others must hear too.
    state.emplace_back(room, hub_.local_members(room).value_or(hub::UserStreams{}));
  }
  publish_presence(state);
}

void NatsBackplane::publish_presence(
    const std::vector<std::pair<std::string, hub::UserStreams>>& rooms) {
  // {"relay": ID, "rooms": {ROOM: {USER: STREAMS, ...}, ...}}, in messages of
  // a bounded size.
  nlohmann::json message{{"relay", origin_}, {"rooms", nlohmann::json::object()}};
  std::size_t bytes = 0;
  const auto send = [&] {
    const std::string text = message.dump();
    natsConnection_Publish(connection_, kPresenceSubject, text.data(),
                           static_cast<int>(text.size()));
    message["rooms"] = nlohmann::json::object();
    bytes = 0;
  };
  for (const auto& [room, users] : rooms) {
    nlohmann::json entry = nlohmann::json::object();
    for (const auto& [user, streams] : users) {
      entry[user] = streams;
      bytes += user.size() + 8;
    }
    message["rooms"][room] = std::move(entry);
    bytes += room.size() + 8;
    if (bytes >= kPresenceMessageBytes) {
      send();
    }
  }
  if (!message["rooms"].empty()) {
    send();
  }
}

void NatsBackplane::presence_tick() {
  if (closing_) {
    return;
  }
  if (connected_) {
    publish_presence(hub_.local_members());
  }
  std::vector<std::pair<std::string, std::string>> expired;  // relay, room
  {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(presence_mutex_);
    for (auto relay = remote_seen_.begin(); relay != remote_seen_.end();) {
      for (auto room = relay->second.begin(); room != relay->second.end();) {
        if (now - room->second >= kPresenceExpiry) {
          expired.emplace_back(relay->first, room->first);
          room = relay->second.erase(room);
        } else {
          ++room;
        }
      }
      relay = relay->second.empty() ? remote_seen_.erase(relay) : std::next(relay);
    }
  }
  for (const auto& [relay, room] : expired) {
    hub_.set_remote_members(room, relay, {});
  }
  if (!expired.empty()) {
    spdlog::info("NATS: forgot the members of {} rooms on relays not heard of for {} s",
                 expired.size(), kPresenceExpiry.count());
  }
  worker_.post([this] { presence_tick(); }, kPresenceInterval);
}

void NatsBackplane::on_presence(natsConnection* /*connection*/, natsSubscription* /*subscription*/,
                                natsMsg* message, void* self) {
  static_cast<NatsBackplane*>(self)->remote_presence(message);
  natsMsg_Destroy(message);
}

void NatsBackplane::remote_presence(natsMsg* message) {
  if (closing_) {
    return;
  }
  const auto parsed = nlohmann::json::parse(
      natsMsg_GetData(message), natsMsg_GetData(message) + natsMsg_GetDataLength(message), nullptr,
      false);
  const auto relay = parsed.is_object() ? parsed.find("relay") : parsed.end();
  const auto rooms = parsed.is_object() ? parsed.find("rooms") : parsed.end();
  if (relay == parsed.end() || !relay->is_string() || rooms == parsed.end() ||
      !rooms->is_object()) {
    return;
  }
  const std::string from = relay->get<std::string>();
  if (from == origin_) {
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [room, users] : rooms->items()) {
    if (!users.is_object() || common::validate_room_name(room)) {
      continue;
    }
    hub::UserStreams members;
    for (const auto& [user, streams] : users.items()) {
      if (streams.is_number_unsigned()) {
        members[user] = streams.get<std::size_t>();
      }
    }
    {
      std::lock_guard lock(presence_mutex_);
      if (members.empty()) {
        remote_seen_[from].erase(room);
      } else {
        remote_seen_[from][room] = now;
      }
    }
    hub_.set_remote_members(room, from, std::move(members));
  }
}

void NatsBackplane::retry_set_up(const std::string& why, bool unanswered, bool forming) {
  // Set-up runs when there is no consumer, or when the one there stopped
  // delivering (missed heartbeats): until it succeeds nothing published
  // reaches this relay's subscribers, so health must not say SERVING. (A
  // frozen NATS node was reported SERVING for the 18 s this took.)
  caught_up_ = false;
  const auto now = std::chrono::steady_clock::now();
  const std::uint64_t generation = connection_generation_.load();
  if (!unanswered) {
    // The server answers, if only to refuse: another would say the same.
    unanswered_since_.reset();
  } else if (!unanswered_since_ || unanswered_since_->generation != generation) {
    unanswered_since_ = Unanswered{now, generation};
  } else if (connected_ && now - unanswered_since_->since >= kLeaveServerAfter &&
             leave_server(why)) {
    // The reconnect sets up again, from the start.
    set_up_retry_ = kSetUpRetry;
    unanswered_since_.reset();
    return;
  }
  if (forming && forming_retries_ < kClusterFormingRetries) {
    ++forming_retries_;
    spdlog::warn("NATS: {}; the cluster may still be forming: trying again in {} s", why,
                 std::chrono::duration_cast<std::chrono::seconds>(kSetUpRetry).count());
    worker_.post([this] { set_up(); }, kSetUpRetry);
    return;
  }
  spdlog::warn("NATS: {}; trying again in {} s", why,
               std::chrono::duration_cast<std::chrono::seconds>(set_up_retry_).count());
  worker_.post([this] { set_up(); }, set_up_retry_);
  set_up_retry_ = std::min<std::chrono::milliseconds>(set_up_retry_ * 2, kLongestSetUpRetry);
}

bool NatsBackplane::leave_server(const std::string& why) {
  char** servers = nullptr;
  int count = 0;
  if (natsConnection_GetServers(connection_, &servers, &count) != NATS_OK) {
    return false;
  }
  for (int i = 0; i < count; ++i) {
    free(servers[i]);  // NOLINT(cppcoreguidelines-no-malloc): libnats allocated them
  }
  free(servers);  // NOLINT(cppcoreguidelines-no-malloc)
  if (count < 2) {
    return false;
  }
  char url[256] = "";
  natsConnection_GetConnectedUrl(connection_, url, sizeof url);
  const std::string_view connected_url = url;
  const auto colon = connected_url.rfind(':');
  int server_port = 0;
  if (colon == std::string_view::npos ||
      std::from_chars(connected_url.data() + colon + 1, connected_url.data() + connected_url.size(),
                      server_port)
              .ec != std::errc{}) {
    spdlog::debug("NATS: cannot tell the port of {}; staying on it", connected_url);
    return false;
  }
  char* local_ip = nullptr;
  int local_port = 0;
  if (natsConnection_GetLocalIPAndPort(connection_, &local_ip, &local_port) != NATS_OK) {
    return false;
  }
  const std::string wanted_ip = local_ip;
  free(local_ip);  // NOLINT(cppcoreguidelines-no-malloc)
  // libnats 3.4 cannot be asked to reconnect (natsConnection_Reconnect came
  // in 3.6), but it does on a broken connection, to the next server of its
  // pool. Its socket is the TCP one with its local address and the server's
  // port; it is shut down, not closed, so the descriptor stays the library's.
  bool found = false;
  common::for_each_descriptor([&](int fd) {
    int type = 0;
    socklen_t type_length = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length) != 0 || type != SOCK_STREAM) {
      return true;
    }
    const auto local = socket_address(fd, getsockname);
    const auto peer = socket_address(fd, getpeername);
    if (!local || !peer || local->port != local_port || local->ip != wanted_ip ||
        peer->port != server_port) {
      return true;
    }
    found = shutdown(fd, SHUT_RDWR) == 0;
    return !found;
  });
  if (!found) {
    spdlog::debug("NATS: the socket to {} was not found; staying on it", connected_url);
    return false;
  }
  servers_left_.fetch_add(1);
  spdlog::warn(
      "NATS: {} has answered no set-up request for over {} s ({}); reconnecting to another "
      "server ({} known besides it)",
      connected_url, std::chrono::duration_cast<std::chrono::seconds>(kLeaveServerAfter).count(),
      why, count - 1);
  return true;
}

void NatsBackplane::on_message(natsConnection* /*connection*/, natsSubscription* subscription,
                               natsMsg* message, void* self) {
  static_cast<NatsBackplane*>(self)->deliver(subscription, message);
  natsMsg_Destroy(message);
}

void NatsBackplane::on_async_error(natsConnection* /*connection*/, natsSubscription* subscription,
                                   natsStatus error, void* self) {
  auto* backplane = static_cast<NatsBackplane*>(self);
  if (error == NATS_MISSED_HEARTBEAT || error == NATS_SLOW_CONSUMER) {
    std::lock_guard lock(backplane->consumer_mutex_);
    if (subscription == backplane->subscription_) {
      backplane->resubscribe_locked(natsStatus_GetText(error));
    }
  }
}

void NatsBackplane::resubscribe_locked(const std::string& why) {
  if (resubscribing_ || closing_) {
    return;
  }
  resubscribing_ = true;
  spdlog::warn("NATS: reading stream {} again after message {}: {}", config_.nats_stream,
               last_delivered_, why);
  worker_.post([this] { set_up(); });
}

void NatsBackplane::deliver(natsSubscription* subscription, natsMsg* message) {
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, message) != NATS_OK) {
    return;
  }
  const std::uint64_t stream_sequence = meta->Sequence.Stream;
  const std::uint64_t consumer_sequence = meta->Sequence.Consumer;
  const std::uint64_t pending = meta->NumPending;
  const std::int64_t stored_ns = meta->Timestamp;
  jsMsgMetaData_Destroy(meta);

  std::lock_guard lock(consumer_mutex_);
  // A subscription replaced meanwhile, or one that lost a message: what it
  // delivers now is read again by the next one.
  if (closing_ || subscription != subscription_ || resubscribing_) {
    return;
  }
  if (consumer_sequence != next_consumer_sequence_) {
    resubscribe_locked(fmt::format("the consumer skipped from {} to {}", next_consumer_sequence_,
                                   consumer_sequence));
    return;
  }
  ++next_consumer_sequence_;
  if (stream_sequence <= last_delivered_) {
    return;
  }
  last_delivered_ = stream_sequence;
  const std::string_view subject(natsMsg_GetSubject(message));
  auto room = subject.starts_with(subject_prefix_)
                  ? decode_room(subject.substr(subject_prefix_.size()))
                  : std::nullopt;
  hub::Message delivered;
  delivered.epoch = header_number(message, kEpochHeader);
  delivered.sequence = header_number(message, kCounterHeader);
  if (!room || delivered.epoch == 0 || delivered.sequence == 0) {
    // Someone else's publish to the relay's subjects: skipped, not fatal.
    spdlog::warn("NATS: message {} of {} on {} is not a relay's message; skipped", stream_sequence,
                 config_.nats_stream, subject);
  } else {
    delivered.room = std::move(*room);
    delivered.sender = header_text(message, kSenderHeader);
    delivered.client_message_id = header_text(message, kClientIdHeader);
    delivered.server_time_us = stored_ns / 1000;
    delivered.body.assign(natsMsg_GetData(message),
                          static_cast<std::size_t>(natsMsg_GetDataLength(message)));
    const std::string room_name = delivered.room;
    const hub::Position position = hub_.append(std::move(delivered));
    update_head(room_name, {stream_sequence, position.epoch, position.sequence}, true);
    const std::string origin = header_text(message, kOriginHeader);
    if (origin.size() > origin_.size() + 1 && origin.starts_with(origin_) &&
        origin[origin_.size()] == '/') {
      std::uint64_t number = 0;
      const char* digits = origin.data() + origin_.size() + 1;
      if (std::from_chars(digits, origin.data() + origin.size(), number).ec == std::errc{}) {
        settle_stored(number, position);
      }
    }
  }
  if (!caught_up_ && (stream_sequence >= catch_up_to_ || pending == 0) && connected_) {
    caught_up_ = true;
    spdlog::info("NATS: serving; stream {} read up to message {}", config_.nats_stream,
                 stream_sequence);
  }
}

void NatsBackplane::update_head(const std::string& room, const Head& head, bool delivered) {
  std::lock_guard lock(mutex_);
  Head& known = heads_[room];
  if (head.stream_sequence > known.stream_sequence ||
      (delivered && head.stream_sequence == known.stream_sequence)) {
    known = head;
  }
}

void NatsBackplane::settle_stored(std::uint64_t number, const hub::Position& position) {
  Pending pending;
  {
    std::lock_guard lock(mutex_);
    const auto found = stored_.find(number);
    if (found == stored_.end()) {
      delivered_early_.emplace(number, position);
      if (delivered_early_.size() > kMaxDeliveredEarly) {
        // Its ack never came (it timed out): the client was told UNAVAILABLE.
        delivered_early_.erase(delivered_early_.begin());
      }
      return;
    }
    pending = std::move(found->second.pending);
    stored_.erase(found);
  }
  pending.done({position.epoch, position.sequence, false});
}

std::uint64_t NatsBackplane::next_epoch() {
  // Microseconds of the wall clock plus a counter, as the hub makes them: a
  // numbering started again never repeats an old epoch.
  const auto now_us =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  return now_us + epoch_offset_.fetch_add(1, std::memory_order_relaxed);
}

void NatsBackplane::publish(const std::string& room, hub::PublishRequest request,
                            const hub::CreateGate& may_create, PublishDone done) {
  if (!serving()) {
    log_refusal(room, connected_ ? "the relay is still reading the stream"
                                 : "the message broker is out of reach");
    done(hub::PublishResult{.unavailable = true});
    return;
  }
  if (!request.client_message_id.empty()) {
    if (auto original = hub_.find_duplicate(room, request.sender, request.client_message_id)) {
      done(*original);
      return;
    }
  }
  const hub::PublishResult admitted = hub_.admit_room(room, may_create);
  if (admitted.too_many_rooms || admitted.creation_refused) {
    done(admitted);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    lanes_[room].waiting.push_back({std::move(request), std::move(done)});
  }
  send_next(room);
}

void NatsBackplane::send_next(const std::string& room) {
  // A loop, not a recursion through fail(): a broker out of reach refuses a
  // whole queue of waiting publishes one after the other.
  for (;;) {
    Pending next;
    {
      std::lock_guard lock(mutex_);
      const auto lane = lanes_.find(room);
      if (lane == lanes_.end() || lane->second.in_flight) {
        return;
      }
      if (lane->second.waiting.empty()) {
        lanes_.erase(lane);
        return;
      }
      next = std::move(lane->second.waiting.front());
      lane->second.waiting.pop_front();
      lane->second.in_flight = true;
    }
    const auto refusal = send(room, next);
    if (!refusal) {
      return;
    }
    log_refusal(room, *refusal);
    answer(room, next, hub::PublishResult{.unavailable = true});
  }
}

std::optional<std::string> NatsBackplane::send(const std::string& room, Pending& pending) {
  if (!connected_ || closing_) {
    return "the message broker is out of reach";
  }
  Head head;
  {
    std::lock_guard lock(mutex_);
    if (const auto known = heads_.find(room); known != heads_.end()) {
      head = known->second;
    }
  }
  // The room's first message, or the first after JetStream let all of them
  // go, starts a numbering; otherwise the numbering goes on.
  const std::uint64_t epoch = head.counter == 0 ? next_epoch() : head.epoch;
  const std::uint64_t counter = head.counter + 1;

  const std::string subject = subject_prefix_ + encode_room(room);
  const hub::PublishRequest& request = pending.request;
  natsMsg* raw = nullptr;
  if (natsMsg_Create(&raw, subject.c_str(), nullptr, request.body.data(),
                     static_cast<int>(request.body.size())) != NATS_OK) {
    return "the message could not be made: " + last_error(NATS_ERR);
  }
  MessagePtr message(raw);
  natsMsgHeader_Set(raw, kExpectedLastSubjectSequence,
                    std::to_string(head.stream_sequence).c_str());
  natsMsgHeader_Set(raw, kEpochHeader, std::to_string(epoch).c_str());
  natsMsgHeader_Set(raw, kCounterHeader, std::to_string(counter).c_str());
  natsMsgHeader_Set(raw, kSenderHeader, request.sender.c_str());
  const std::uint64_t number = next_number_.fetch_add(1, std::memory_order_relaxed) + 1;
  natsMsgHeader_Set(raw, kOriginHeader, fmt::format("{}/{}", origin_, number).c_str());
  if (!request.client_message_id.empty()) {
    natsMsgHeader_Set(raw, kClientIdHeader, request.client_message_id.c_str());
  }
  if (!request.client_message_id.empty() && config_.duplicate_window_ms > 0) {
    // JetStream's window is per stream, the relay's per room and sender.
    const std::string id =
        encode_room(room) + "/" + request.sender + "/" + request.client_message_id;
    natsMsgHeader_Set(raw, kMsgIdHeader, id.c_str());
  }
  {
    // Before the publish: its answer may come on another thread at once.
    std::lock_guard lock(mutex_);
    sent_.emplace(raw, InFlight{room, std::move(pending), epoch, counter, number,
                                std::chrono::steady_clock::now()});
  }
  jsPubOptions options;
  jsPubOptions_Init(&options);
  options.MaxWait = config_.nats_publish_timeout_ms;
  natsMsg* handed = message.release();
  const natsStatus status = js_PublishMsgAsync(jetstream_, &handed, &options);
  if (status == NATS_OK) {
    return std::nullopt;
  }
  // Not taken: `handed` is still ours, and so is the publish.
  MessagePtr refused(handed);
  std::lock_guard lock(mutex_);
  const auto found = sent_.find(raw);
  if (found != sent_.end()) {
    pending = std::move(found->second.pending);
    sent_.erase(found);
  }
  return "the message broker refused it: " + last_error(status);
}

void NatsBackplane::on_ack(jsCtx* /*context*/, natsMsg* message, jsPubAck* ack, jsPubAckErr* error,
                           void* self) {
  static_cast<NatsBackplane*>(self)->acknowledged(message, ack, error);
  natsMsg_Destroy(message);
}

void NatsBackplane::acknowledged(natsMsg* message, const jsPubAck* ack, const jsPubAckErr* error) {
  InFlight in_flight;
  {
    std::lock_guard lock(mutex_);
    const auto found = sent_.find(message);
    if (found == sent_.end()) {
      // Answered already, by the destructor.
      return;
    }
    in_flight = std::move(found->second);
    sent_.erase(found);
    if (ack != nullptr) {
      const auto latency_us =
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                         std::chrono::steady_clock::now() - in_flight.sent)
                                         .count());
      ack_latency_.record(latency_us);
      ++acks_;
      ack_sum_us_ += latency_us;
    }
  }
  const std::string& room = in_flight.room;
  if (ack != nullptr && !ack->Duplicate) {
    update_head(room, {ack->Sequence, in_flight.epoch, in_flight.counter}, false);
    std::optional<hub::Position> delivered;
    {
      std::lock_guard lock(mutex_);
      if (const auto early = delivered_early_.find(in_flight.number);
          early != delivered_early_.end()) {
        delivered = early->second;
        delivered_early_.erase(early);
      } else {
        stored_.emplace(in_flight.number, Stored{room, std::move(in_flight.pending)});
      }
      if (const auto lane = lanes_.find(room); lane != lanes_.end()) {
        lane->second.in_flight = false;
      }
    }
    if (delivered) {
      in_flight.pending.done({delivered->epoch, delivered->sequence, false});
    }
    // The room's next publish may go: it names this one's stream sequence.
    send_next(room);
    return;
  }
  if (ack != nullptr) {
    const hub::PublishRequest& request = in_flight.pending.request;
    if (auto original = hub_.find_duplicate(room, request.sender, request.client_message_id)) {
      finish(room, in_flight.pending, *original);
      return;
    }
    worker_.post([this, room, sequence = ack->Sequence,
                  pending = std::make_shared<Pending>(std::move(in_flight.pending))] {
      answer_duplicate(room, std::move(*pending), sequence);
    });
    return;
  }
  if (error != nullptr && error->ErrCode == JSStreamWrongLastSequenceErr &&
      ++in_flight.pending.attempts < kMaxAttempts) {
    worker_.post([this, room, pending = std::make_shared<Pending>(std::move(in_flight.pending))] {
      retry_after_reading_head(room, std::move(*pending));
    });
    return;
  }
  fail(room, in_flight.pending,
       error == nullptr ? "no answer from the message broker"
       : error->ErrCode == JSStreamWrongLastSequenceErr
           ? "the room is contended: other relays published first " + std::to_string(kMaxAttempts) +
                 " times"
           : std::string("the message broker did not store it: ") +
                 (error->ErrText != nullptr ? error->ErrText : natsStatus_GetText(error->Err)));
}

void NatsBackplane::retry_after_reading_head(const std::string& room, Pending pending) {
  const std::string subject = subject_prefix_ + encode_room(room);
  natsMsg* raw = nullptr;
  jsErrCode code{};
  const natsStatus status =
      js_GetLastMsg(&raw, jetstream_, config_.nats_stream.c_str(), subject.c_str(), nullptr, &code);
  if (status == NATS_OK) {
    const MessagePtr last(raw);
    update_head(room,
                {natsMsg_GetSequence(raw), header_number(raw, kEpochHeader),
                 header_number(raw, kCounterHeader)},
                false);
  } else if (status == NATS_NOT_FOUND) {
    // None of the room's messages is left: the next publish starts a numbering.
    std::lock_guard lock(mutex_);
    heads_.erase(room);
  } else {
    fail(room, pending, "the room's last message could not be read: " + last_error(status));
    return;
  }
  if (const auto refusal = send(room, pending)) {
    fail(room, pending, *refusal);
  }
}

void NatsBackplane::answer_duplicate(const std::string& room, Pending pending,
                                     std::uint64_t stream_sequence) {
  natsMsg* raw = nullptr;
  jsErrCode code{};
  const natsStatus status =
      js_GetMsg(&raw, jetstream_, config_.nats_stream.c_str(), stream_sequence, nullptr, &code);
  if (status == NATS_OK) {
    const MessagePtr original(raw);
    finish(room, pending,
           {header_number(raw, kEpochHeader), header_number(raw, kCounterHeader), true});
    return;
  }
  if (status == NATS_NOT_FOUND) {
    // Stored once, and gone since: the resend is still not delivered twice.
    finish(room, pending, {0, 0, true});
    return;
  }
  fail(room, pending, "the original of a resend could not be read: " + last_error(status));
}

void NatsBackplane::answer(const std::string& room, Pending& pending,
                           const hub::PublishResult& result) {
  pending.done(result);
  std::lock_guard lock(mutex_);
  if (const auto lane = lanes_.find(room); lane != lanes_.end()) {
    lane->second.in_flight = false;
  }
}

void NatsBackplane::finish(const std::string& room, Pending& pending,
                           const hub::PublishResult& result) {
  answer(room, pending, result);
  send_next(room);
}

void NatsBackplane::fail(const std::string& room, Pending& pending, const std::string& why) {
  log_refusal(room, why);
  finish(room, pending, hub::PublishResult{.unavailable = true});
}

void NatsBackplane::log_refusal(const std::string& room, const std::string& why) {
  const std::uint64_t refused = refused_.fetch_add(1) + 1;
  const std::int64_t now = steady_us();
  std::int64_t last = last_refusal_log_us_.load();
  const std::int64_t interval =
      std::chrono::duration_cast<std::chrono::microseconds>(kRefusalLogInterval).count();
  if ((last == 0 || now - last >= interval) &&
      last_refusal_log_us_.compare_exchange_strong(last, now)) {
    spdlog::warn("NATS: refused a publish to {} (UNAVAILABLE): {}; {} refused since the start",
                 room, why, refused);
  }
}

}  // namespace relay::backplane
