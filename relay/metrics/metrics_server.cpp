#include "relay/metrics/metrics_server.hpp"

#include <chrono>
#include <optional>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "relay/metrics/exposition.hpp"

namespace relay::metrics {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::asio::ip::tcp;

// A scrape request is a line and a few headers; far larger ones are not
// scrapers, and must not make the relay buffer them.
constexpr std::size_t kMaxHeaderBytes = 8 * 1024;
// Time for a whole exchange: a client that sends or reads slowly loses its
// connection rather than keeping one of the few there are.
constexpr auto kExchangeTimeout = std::chrono::seconds(5);
// Prometheus opens one connection per target; a few more are people with curl.
constexpr std::size_t kMaxSessions = 16;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const MetricsServer::Render& render, std::size_t& sessions)
      : stream_(std::move(socket)), render_(render), sessions_(sessions) {
    ++sessions_;
    parser_.header_limit(kMaxHeaderBytes);
    parser_.body_limit(kMaxHeaderBytes);
  }
  ~Session() { --sessions_; }

  void start() {
    stream_.expires_after(kExchangeTimeout);
    http::async_read(stream_, buffer_, parser_,
                     [self = shared_from_this()](beast::error_code error, std::size_t) {
                       self->on_read(error);
                     });
  }

 private:
  void on_read(beast::error_code error) {
    if (error == http::error::end_of_stream || error == beast::error::timeout ||
        error == boost::asio::error::operation_aborted) {
      return;  // gone, or too slow: nobody waits for an answer
    }
    if (error == http::error::header_limit || error == http::error::buffer_overflow) {
      respond(http::status::request_header_fields_too_large, "request header too large\n");
    } else if (error == http::error::body_limit) {
      respond(http::status::payload_too_large, "request body too large\n");
    } else if (error) {
      respond(http::status::bad_request, "malformed request\n");
    } else if (parser_.get().target() != "/metrics") {
      respond(http::status::not_found, "only /metrics is served here\n");
    } else if (parser_.get().method() != http::verb::get &&
               parser_.get().method() != http::verb::head) {
      respond(http::status::method_not_allowed, "GET /metrics\n");
    } else {
      respond(http::status::ok, render_(), Exposition::kContentType);
    }
  }

  void respond(http::status status, std::string body,
               const char* content_type = "text/plain; charset=utf-8") {
    response_.emplace(status, 11);
    response_->set(http::field::server, "relay-server");
    response_->set(http::field::content_type, content_type);
    response_->keep_alive(false);
    const bool head = parser_.is_header_done() && parser_.get().method() == http::verb::head;
    response_->body() = head ? std::string() : std::move(body);
    response_->prepare_payload();
    http::async_write(stream_, *response_,
                      [self = shared_from_this()](beast::error_code, std::size_t) {
                        beast::error_code ignored;
                        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{2 * kMaxHeaderBytes};
  http::request_parser<http::string_body> parser_;
  std::optional<http::response<http::string_body>> response_;
  const MetricsServer::Render& render_;
  std::size_t& sessions_;
};

}  // namespace

std::variant<std::unique_ptr<MetricsServer>, std::string> MetricsServer::start(
    const std::string& host_and_port, Render render) {
  const auto colon = host_and_port.rfind(':');
  std::string host = host_and_port.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  boost::system::error_code error;
  const auto address = boost::asio::ip::make_address(host, error);
  if (error) {
    return "metrics address " + host_and_port + ": " + host + " is not an IP address";
  }
  const auto port = static_cast<unsigned short>(std::stoul(host_and_port.substr(colon + 1)));
  std::unique_ptr<MetricsServer> server(new MetricsServer(std::move(render)));
  const tcp::endpoint endpoint(address, port);
  auto& acceptor = server->acceptor_;
  if (acceptor.open(endpoint.protocol(), error) ||
      acceptor.set_option(tcp::acceptor::reuse_address(true), error) ||
      acceptor.bind(endpoint, error) ||
      acceptor.listen(boost::asio::socket_base::max_listen_connections, error)) {
    return "cannot serve metrics on " + host_and_port + ": " + error.message();
  }
  server->port_ = acceptor.local_endpoint().port();
  server->accept();
  server->thread_ = std::thread([raw = server.get()] { raw->io_.run(); });
  return server;
}

MetricsServer::MetricsServer(Render render) : render_(std::move(render)) {}

MetricsServer::~MetricsServer() {
  io_.stop();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void MetricsServer::accept() {
  acceptor_.async_accept([this](beast::error_code error, tcp::socket socket) {
    if (error == boost::asio::error::operation_aborted) {
      return;
    }
    if (!error) {
      // Beyond the bound a new connection is closed at once (the socket's
      // destructor): each one open holds a deadline's worth of this thread's care.
      if (sessions_ < kMaxSessions) {
        std::make_shared<Session>(std::move(socket), render_, sessions_)->start();
      }
    }
    accept();
  });
}

}  // namespace relay::metrics
