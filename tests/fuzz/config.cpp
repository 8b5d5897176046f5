// relay-server --config FILE reads whatever the file holds. Whatever the
// bytes, loading must end in a configuration or in exit code 2 with a
// message, never in a crash or an escaping exception; what it accepts must
// be what apply_json accepts, and a configuration it hands out must be one
// it would accept again.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/config.hpp"

namespace {

using nlohmann::json;
using relay::common::apply_json;
using relay::common::RelayConfig;
using relay::common::to_json;

void require(bool condition) {
  if (!condition) {
    std::abort();
  }
}

// The loader reads a path; a memory file gives it one without touching the
// disk on every input.
int config_file = -1;
std::string config_path;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  config_file = memfd_create("relay-fuzz-config", 0);
  require(config_file >= 0);
  config_path = "/proc/self/fd/" + std::to_string(config_file);
  // Every refused file is reported on stderr, which would bury libFuzzer's
  // own reports; sanitizer reports do not go through std::cerr.
  std::cerr.setstate(std::ios::badbit);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  require(ftruncate(config_file, 0) == 0);
  require(pwrite(config_file, data, size, 0) == static_cast<ssize_t>(size));
  const char* argv[] = {"relay-server", "--config", config_path.c_str()};
  const auto outcome = relay::common::parse_relay_command_line(3, argv);
  require(outcome.options.has_value() == (outcome.exit_code == 0));
  require(outcome.exit_code == 0 || outcome.exit_code == 2);

  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const json document = json::parse(text, nullptr, /*allow_exceptions=*/false);
  RelayConfig expected;
  const bool acceptable = !document.is_discarded() && !apply_json(expected, document);
  require(acceptable == outcome.options.has_value());
  if (!acceptable) {
    return 0;
  }
  const json loaded = to_json(outcome.options->config);
  require(loaded == to_json(expected));
  RelayConfig again;
  require(!apply_json(again, loaded));
  require(to_json(again) == loaded);
  return 0;
}
