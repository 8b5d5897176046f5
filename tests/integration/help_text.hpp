#pragma once

#include <string>
#include <vector>

namespace relay::testing {

// What the project's programs print for --help, read as the examples tests
// read it (CLI11's layout).

// The text without its trailing spaces.
std::string trim_right(std::string text);
// The lines of the block under `heading` up to the next empty line.
std::vector<std::string> section(const std::string& help, const std::string& heading);
// The commands under "Examples:": "  COMMAND    what it does", indented by
// two, the command ending where a run of spaces begins; deeper lines
// continue a description. A help without examples fails the test.
std::vector<std::string> help_examples(const std::string& help);

}  // namespace relay::testing
