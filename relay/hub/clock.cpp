#include "relay/hub/clock.hpp"

#include <chrono>

namespace relay::hub {

HubTime system_now() {
  const auto since_epoch = [](auto time_point) {
    return std::chrono::duration_cast<std::chrono::microseconds>(time_point.time_since_epoch())
        .count();
  };
  return HubTime{.wall_us = since_epoch(std::chrono::system_clock::now()),
                 .steady_us = since_epoch(std::chrono::steady_clock::now())};
}

}  // namespace relay::hub
