#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace relay::metrics {

// Label names and values of one sample, in order.
using Labels = std::vector<std::pair<std::string_view, std::string>>;

// Writes the Prometheus text exposition format, version 0.0.4: each family
// opens with its # HELP and # TYPE lines, then its samples.
class Exposition {
 public:
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

  // type: counter, gauge or histogram.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, double value, const Labels& labels = {});
  // A histogram from its non-cumulative bucket counts, one more than the
  // upper bounds (the last counts what lies above them all); bounds and sum
  // in the unit the name says.
  void histogram(std::string_view name, const std::vector<double>& bounds,
                 const std::vector<std::uint64_t>& counts, double sum);

  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

}  // namespace relay::metrics
