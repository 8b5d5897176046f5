#include "tests/integration/help_text.hpp"

#include <doctest/doctest.h>

#include <sstream>

namespace relay::testing {

std::string trim_right(std::string text) {
  text.erase(text.find_last_not_of(' ') + 1);
  return text;
}

std::vector<std::string> section(const std::string& help, const std::string& heading) {
  std::istringstream in(help);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line) && line != heading) {
  }
  while (std::getline(in, line) && !line.empty()) {
    lines.push_back(line);
  }
  return lines;
}

std::vector<std::string> help_examples(const std::string& help) {
  std::vector<std::string> examples;
  for (const auto& line : section(help, "Examples:")) {
    if (line.size() > 2 && line.starts_with("  ") && line[2] != ' ') {
      examples.push_back(trim_right(line.substr(2, line.find("  ", 2) - 2)));
    }
  }
  REQUIRE_FALSE(examples.empty());
  return examples;
}

}  // namespace relay::testing
