#pragma once

#include <filesystem>
#include <string>

namespace relay::testing {

// A fresh directory of the test's own under the system's temporary one, for
// the files a test makes (keys, certificates); removed with the object.
class ScratchDirectory {
 public:
  explicit ScratchDirectory(const std::string& prefix);
  ~ScratchDirectory();
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;

  std::string path(const std::string& name) const { return (dir / name).string(); }
  // What the file holds; empty if it cannot be read.
  std::string text(const std::string& name) const;

  const std::filesystem::path dir;
};

}  // namespace relay::testing
