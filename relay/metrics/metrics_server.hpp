#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <variant>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace relay::metrics {

// Serves GET /metrics over HTTP/1.1 on its own port, with Boost.Beast on one
// thread of its own: the relay's gRPC threads never wait for a scraper, and a
// slow or hostile client costs this thread a socket, not time. Other paths get
// 404, other methods 405, oversized or malformed requests 431 or 400; every
// connection answers one request and closes, within a deadline.
class MetricsServer {
 public:
  // Renders the exposition text; called on the server's thread per scrape.
  using Render = std::function<std::string()>;

  // Listens on HOST:PORT (an IP address; port 0 picks one) and starts the
  // thread, or says why it cannot.
  static std::variant<std::unique_ptr<MetricsServer>, std::string> start(
      const std::string& host_and_port, Render render);

  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }

 private:
  explicit MetricsServer(Render render);
  void accept();

  const Render render_;
  // Connections open now; only the server's thread touches it. Declared
  // before io_, whose destruction ends the sessions that count themselves out.
  std::size_t sessions_ = 0;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  int port_ = 0;
  std::thread thread_;
};

}  // namespace relay::metrics
