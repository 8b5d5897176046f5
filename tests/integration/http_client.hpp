#pragma once

#include <optional>
#include <string>

namespace relay::testing {

// A plain HTTP/1.1 exchange with a server on 127.0.0.1, for /metrics.

// Sends `request` as it is and returns all the server sent until it closed,
// within a few seconds.
std::string http_exchange(int port, const std::string& request);
std::string get(int port, const std::string& path, const std::string& extra_headers = "");
// The value of the sample named exactly `series` ("relay_rooms",
// "relay_open_streams{kind=\"chat\"}") in a /metrics response.
std::optional<double> value(const std::string& response, const std::string& series);

}  // namespace relay::testing
