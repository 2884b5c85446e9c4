// What `plexus pull` accepts and where it puts it:
//   hf:ORG/REPO/FILE.gguf, hf:ORG/REPO/DIR/FILE.gguf, hf:ORG/REPO@REVISION/FILE.gguf
//     -> {endpoint}/ORG/REPO/resolve/REVISION/DIR/FILE.gguf
//     -> <cache>/models/ORG/REPO/DIR/FILE.gguf
//   https://HOST[:PORT]/.../FILE.gguf (or http://)
//     -> <cache>/models/url/HOST[_PORT]/FILE.gguf
// and the split-file names of gguf-split: NAME-00001-of-00003.gguf.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace plexus::hub {

constexpr std::string_view kDefaultEndpoint = "https://huggingface.co";

struct ModelRef {
  enum class Kind { kHub, kUrl };
  Kind kind = Kind::kHub;
  // kHub: repository, revision and the file's path inside the repository.
  std::string org, repo, revision = "main", path;
  // kUrl: the URL as given, and the cache folder name for its host.
  std::string url, host_dir;

  // The last path segment (decoded for URLs): "FILE.gguf".
  std::string FileName() const;
  // Relative to the cache directory: "models/ORG/REPO/DIR/FILE.gguf".
  std::string CachePath() const;
  // Where to fetch it; `endpoint` is the hub's base URL (kHub only).
  std::string SourceUrl(std::string_view endpoint) const;
  // The same reference with the file name replaced (split parts are siblings).
  ModelRef WithFileName(const std::string& name) const;
  // Canonical text: "hf:ORG/REPO/PATH" ("@REV" when not main), or the URL.
  std::string ToString() const;
};

// True for text that names something to download ("hf:", "http://",
// "https://"), false for what should be taken as a local path.
bool IsRemoteRef(std::string_view text);

// Errors name the text and what is wrong with it.
Result<ModelRef> ParseModelRef(std::string_view text);

// gguf-split part names: PREFIX-NNNNN-of-NNNNN.gguf, 1 <= index <= count.
struct SplitName {
  std::string prefix;  // "model-q4" of "model-q4-00002-of-00003.gguf"
  int index = 0;       // 1-based, as in the file name
  int count = 0;
};
std::optional<SplitName> ParseSplitName(std::string_view file_name);
// "PREFIX-00002-of-00003.gguf" for index 2 of 3.
std::string SplitPartName(std::string_view prefix, int index, int count);

// The hub's base URL: $PLEXUS_HF_ENDPOINT when set, else kDefaultEndpoint.
std::string DefaultEndpoint();

}  // namespace plexus::hub
