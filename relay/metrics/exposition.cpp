#include "relay/metrics/exposition.hpp"

#include <cmath>

#include <fmt/format.h>

namespace relay::metrics {
namespace {

// Label values escape backslash, double quote and newline; HELP text
// backslash and newline.
std::string escaped(std::string_view text, bool quotes) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double value) {
  if (std::isinf(value)) {
    return value > 0 ? "+Inf" : "-Inf";
  }
  // Counters print as integers while doubles hold them exactly, not as 1e+06.
  if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0) {
    return fmt::format("{}", static_cast<std::int64_t>(value));
  }
  return fmt::format("{}", value);
}

}  // namespace

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
  text_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escaped(help, false), name, type);
}

void Exposition::sample(std::string_view name, double value, const Labels& labels) {
  text_ += name;
  if (!labels.empty()) {
    text_ += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      text_ += fmt::format("{}{}=\"{}\"", i == 0 ? "" : ",", labels[i].first,
                           escaped(labels[i].second, true));
    }
    text_ += '}';
  }
  text_ += ' ';
  text_ += number(value);
  text_ += '\n';
}

void Exposition::histogram(std::string_view name, const std::vector<double>& bounds,
                           const std::vector<std::uint64_t>& counts, double sum) {
  const std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    const double bound = i < bounds.size() ? bounds[i] : INFINITY;
    sample(bucket, static_cast<double>(cumulative), {{"le", number(bound)}});
  }
  sample(std::string(name) + "_sum", sum);
  sample(std::string(name) + "_count", static_cast<double>(cumulative));
}

}  // namespace relay::metrics
