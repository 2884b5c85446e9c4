// Test helpers for model files: a directory per test process, seeded tiny
// synthetic models, and copies of a GGUF file with edits, to make a model
// that is wrong in one chosen way (a missing key, a tensor of the wrong shape).
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "model/synth.h"
#include "../process_temp_dir.h"

namespace plexus::testing {

// One directory per test process: ctest runs a binary's tests side by side.
inline std::filesystem::path TestModelDir(const std::string& test) {
  return ProcessTempDir(test);
}

// A seeded synthetic model of `preset` in `dir`.
inline std::string WriteTinyModel(const std::filesystem::path& dir, const std::string& preset, const std::string& type,
                                  uint64_t seed) {
  std::string path = (dir / (preset + "-" + type + ".gguf")).string();
  SynthOptions o;
  o.arch = "";
  o.preset = preset;
  o.type = type;
  o.seed = seed;
  o.threads = 1;
  Status st = WriteSyntheticModel(o, path);
  EXPECT_TRUE(st.ok()) << st.message();
  return path;
}

inline std::unique_ptr<GgufFile> OpenGguf(const std::string& path) {
  auto file = GgufFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status().message();
  return file.ok() ? std::move(file).value() : nullptr;
}

// How a test edits a file: `key` returns false to drop a metadata entry (and
// may set others on the writer); `tensor` adds a tensor its own way and
// returns true, or false to copy it through.
struct GgufEdit {
  std::function<bool(const std::string& key, GgufWriter& w)> key = [](const std::string&, GgufWriter&) { return true; };
  std::function<bool(const GgufFile& f, const GgufTensorInfo& t, GgufWriter& w)> tensor =
      [](const GgufFile&, const GgufTensorInfo&, GgufWriter&) { return false; };
};

// Writes `src_path` with `edit` applied to `out_path`; returns out_path.
inline std::string RewriteGguf(const std::string& src_path, const std::string& out_path, const GgufEdit& edit) {
  auto src = GgufFile::Open(src_path);
  EXPECT_TRUE(src.ok()) << src.status().message();
  if (!src.ok()) return out_path;
  GgufWriter w;
  for (const auto& [key, value] : (*src)->metadata())
    if (edit.key(key, w)) w.SetValue(key, value);
  for (const GgufTensorInfo& t : (*src)->tensors()) {
    if (edit.tensor(**src, t, w)) continue;
    const uint8_t* data = (*src)->TensorData(t);
    EXPECT_TRUE(w.AddTensor(t.name, t.type, t.shape, std::vector<uint8_t>(data, data + t.n_bytes)).ok());
  }
  Status st = w.WriteFile(out_path);
  EXPECT_TRUE(st.ok()) << st.message();
  return out_path;
}

}  // namespace plexus::testing
