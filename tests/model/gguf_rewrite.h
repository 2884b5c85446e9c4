// Test helper: copies a GGUF file with edits, to make a model that is wrong
// in one chosen way (a missing key, a tensor of the wrong shape, ...).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "format/gguf.h"

namespace plexus::testing {

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
