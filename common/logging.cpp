#include "common/logging.hpp"

#include <array>
#include <memory>
#include <utility>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "common/log_names.hpp"
#include "common/validation.hpp"

namespace relay::common {
namespace {

// Writes the log message as a JSON string literal, quotes included.
class JsonStringMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm& /*time*/,
              spdlog::memory_buf_t& out) override {
    // nlohmann's serializer knows JSON's escaping rules, and replacing invalid
    // UTF-8 keeps every line readable by a JSON parser whatever was logged.
    const std::string literal =
        nlohmann::json(std::string(message.payload.data(), message.payload.size()))
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out.append(literal.data(), literal.data() + literal.size());
  }

  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonStringMessage>();
  }
};

std::unique_ptr<spdlog::formatter> make_formatter(const std::string& format) {
  if (format == "json") {
    // UTC with a 'Z' so lines from machines in different zones sort together.
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonStringMessage>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":%*})");
    return formatter;
  }
  return std::make_unique<spdlog::pattern_formatter>("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
}

}  // namespace

std::optional<spdlog::level::level_enum> log_level_from_name(std::string_view name) {
  // Our own table rather than spdlog::level::from_str, which answers "off"
  // for any word it does not know.
  static constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 7> kLevels{{
      {"trace", spdlog::level::trace},
      {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},
      {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},
      {"critical", spdlog::level::critical},
      {"off", spdlog::level::off},
  }};
  for (const auto& [level_name, level] : kLevels) {
    if (level_name == name) {
      return level;
    }
  }
  return std::nullopt;
}

bool is_log_format_name(std::string_view name) { return name == "text" || name == "json"; }

std::optional<std::string> setup_logging(const std::string& format, const std::string& level) {
  if (!is_log_format_name(format)) {
    return "log format must be " + std::string(kLogFormatNames) + ", got " +
           quote_for_humans(format);
  }
  const auto spdlog_level = log_level_from_name(level);
  if (!spdlog_level) {
    return "log level must be " + std::string(kLogLevelNames) + ", got " + quote_for_humans(level);
  }
  auto logger =
      std::make_shared<spdlog::logger>("relay", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_formatter(make_formatter(format));
  logger->set_level(*spdlog_level);
  spdlog::set_default_logger(std::move(logger));
  return std::nullopt;
}

}  // namespace relay::common
