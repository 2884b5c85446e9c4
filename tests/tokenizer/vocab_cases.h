// Helpers shared by the tokenizer tests: llama.cpp's vocabulary test vectors
// (ggml-vocab-*.gguf.inp/.out) and loading vocabularies from GGUF.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "tokenizer/tokenizer.h"

namespace plexus::test {

using Ids = std::vector<int32_t>;

inline const std::string kShared = PLEXUS_SHARED_DIR;
inline const std::string kVocabDir = kShared + "/models/vocab";

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Options by argument, since designated initializers that leave members out
// trip -Wmissing-field-initializers.
inline EncodeOptions Enc(bool add_bos, bool parse_special = false, bool add_eos = false) {
  EncodeOptions options;
  options.add_bos = add_bos;
  options.add_eos = add_eos;
  options.parse_special = parse_special;
  return options;
}

inline Vocab LoadVocab(const std::string& path) {
  auto gguf = GgufFile::Open(path);
  EXPECT_TRUE(gguf.ok()) << gguf.status().message();
  if (!gguf.ok()) return {};
  auto vocab = LoadVocabFromGguf(**gguf);
  EXPECT_TRUE(vocab.ok()) << vocab.status().message();
  return vocab.ok() ? std::move(vocab).value() : Vocab{};
}

inline std::unique_ptr<Tokenizer> MakeTokenizer(Vocab vocab) {
  auto tok = Tokenizer::Create(std::move(vocab));
  EXPECT_TRUE(tok.ok()) << tok.status().message();
  return tok.ok() ? std::move(tok).value() : nullptr;
}

inline std::unique_ptr<Tokenizer> LoadTokenizer(const std::string& path) {
  return MakeTokenizer(LoadVocab(path));
}

struct VocabCase {
  std::string text;
  Ids ids;
};

// `base` is ".../ggml-vocab-NAME.gguf". .inp: each string is followed by
// "\n__ggml_vocab_test__\n"; .out: one line of space-separated ids per string.
inline std::vector<VocabCase> ReadVocabCases(const std::string& base) {
  const std::string inp = ReadFile(base + ".inp");
  const std::string marker = "\n__ggml_vocab_test__\n";
  std::vector<VocabCase> cases;
  for (size_t pos = 0, end; (end = inp.find(marker, pos)) != std::string::npos;
       pos = end + marker.size()) {
    cases.push_back({inp.substr(pos, end - pos), {}});
  }
  std::istringstream out(ReadFile(base + ".out"));
  std::string line;
  for (VocabCase& c : cases) {
    std::getline(out, line);
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.ids.push_back(id);
  }
  return cases;
}

}  // namespace plexus::test
