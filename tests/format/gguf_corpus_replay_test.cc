// Replays the fuzz seed corpus (tests/fuzz/corpus/gguf) through the parser in
// a plain gtest, so every build checks it, not only clang fuzz builds. Each
// file and every one of its truncations must parse or fail cleanly; results
// may be errors. Run under ASan to turn "did not crash" into "read nothing
// out of bounds".
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "format/gguf.h"

namespace plexus {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> CorpusFiles() {
  fs::path dir = fs::path(PLEXUS_SOURCE_DIR) / "tests/fuzz/corpus/gguf";
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file()) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

// Touches everything a caller could, as the fuzzer does.
void TouchAll(const GgufFile& file) {
  for (const auto& [key, value] : file.metadata()) {
    (void)file.GetString(key);
    (void)file.GetInt(key);
    (void)file.GetFloat(key);
    (void)file.GetBool(key);
    (void)value.array_size();
  }
  for (const GgufTensorInfo& t : file.tensors()) {
    ASSERT_EQ(file.FindTensor(t.name), &t);
    TensorView view = file.View(t);
    ASSERT_EQ(static_cast<uint64_t>(view.rows) * view.row_bytes, t.n_bytes);
    volatile uint8_t sink = file.TensorData(t)[0] ^ file.TensorData(t)[t.n_bytes - 1];
    (void)sink;
  }
}

TEST(GgufCorpusReplay, EveryFileAndEveryTruncation) {
  std::vector<fs::path> files = CorpusFiles();
  ASSERT_GE(files.size(), 5u) << "the seed corpus is missing";
  int n_valid = 0;
  for (const fs::path& path : files) {
    std::ifstream in(path, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (size_t len = 0; len <= bytes.size(); ++len) {
      std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + len);  // exact size, for ASan
      auto r = GgufFile::Parse(cut, path.filename().string());
      if (r.ok()) {
        TouchAll(*r.value());
        n_valid += len == bytes.size();
      } else {
        EXPECT_EQ(r.status().message().rfind("[gguf] ", 0), 0u) << r.status().message();
      }
    }
  }
  EXPECT_GE(n_valid, 3) << "the corpus should hold several valid files";
}

}  // namespace
}  // namespace plexus
