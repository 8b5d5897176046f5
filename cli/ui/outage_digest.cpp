#include "cli/ui/outage_digest.hpp"

namespace relay::cli::ui {

OutageDigest::OutageDigest(SessionListener& inner, std::chrono::milliseconds repeat_every,
                           Clock now)
    : inner_(inner), repeat_every_(repeat_every), now_(std::move(now)) {}

void OutageDigest::on_status(const ConnectionStatus& status) {
  switch (status.state) {
    case ConnectionState::connected:
      in_outage_ = false;
      break;
    case ConnectionState::connecting:
      // Each attempt of an outage starts with one.
      if (in_outage_) {
        return;
      }
      break;
    case ConnectionState::reconnecting:
      if (in_outage_ && now_() - last_told_ < repeat_every_) {
        return;
      }
      in_outage_ = true;
      last_told_ = now_();
      break;
    case ConnectionState::closed:
      break;
  }
  inner_.on_status(status);
}

}  // namespace relay::cli::ui
