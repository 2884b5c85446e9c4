// Vocab: a tokenizer's data as stored in GGUF metadata (`tokenizer.ggml.*`),
// independent of the algorithm that uses it.
//
// The same struct serves every algorithm: SentencePiece ("llama") uses
// tokens/scores/types, byte-level BPE ("gpt2") will use tokens/types/merges.
// A Vocab can be built in memory (tests, tools) or read with
// LoadVocabFromGguf; either way ValidateVocab checks it before use.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace plexus {

class GgufFile;

// Token types as GGUF stores them in `tokenizer.ggml.token_type`.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,       // <s>, </s>: never produced from plain text
  kUserDefined = 4,   // always matched literally in the input
  kUnused = 5,
  kByte = 6,          // "<0xAB>": byte fallback
};

// GGUF key names, shared by the loader and the error messages.
namespace vocab_keys {
inline constexpr std::string_view kModel = "tokenizer.ggml.model";
inline constexpr std::string_view kPre = "tokenizer.ggml.pre";
inline constexpr std::string_view kTokens = "tokenizer.ggml.tokens";
inline constexpr std::string_view kScores = "tokenizer.ggml.scores";
inline constexpr std::string_view kTokenType = "tokenizer.ggml.token_type";
inline constexpr std::string_view kMerges = "tokenizer.ggml.merges";
inline constexpr std::string_view kBos = "tokenizer.ggml.bos_token_id";
inline constexpr std::string_view kEos = "tokenizer.ggml.eos_token_id";
inline constexpr std::string_view kUnk = "tokenizer.ggml.unknown_token_id";
inline constexpr std::string_view kPad = "tokenizer.ggml.padding_token_id";
inline constexpr std::string_view kAddBos = "tokenizer.ggml.add_bos_token";
inline constexpr std::string_view kAddEos = "tokenizer.ggml.add_eos_token";
inline constexpr std::string_view kAddSpacePrefix = "tokenizer.ggml.add_space_prefix";
}  // namespace vocab_keys

struct Vocab {
  std::string model;  // "llama" (SentencePiece), later "gpt2" (byte-level BPE)
  std::string pre;    // pre-tokenizer name (BPE only; "default" or empty for SPM)
  std::vector<std::string> tokens;  // id -> text, with U+2581 standing for space
  std::vector<float> scores;        // id -> merge priority (SPM: higher merges first)
  std::vector<int32_t> types;       // id -> TokenType value
  std::vector<std::string> merges;  // BPE merge rules "a b", highest priority first

  // Special ids; -1 means "none".
  int32_t bos = -1;
  int32_t eos = -1;
  int32_t unk = -1;
  int32_t pad = -1;
  bool add_bos = false;
  bool add_eos = false;
  // SentencePiece prepends a space to the text (and Decode removes it again).
  bool add_space_prefix = false;

  size_t size() const { return tokens.size(); }
  TokenType type(int32_t id) const { return static_cast<TokenType>(types[id]); }
};

// A Vocab for `model` with the defaults llama.cpp applies when a key is
// absent: for "llama", bos=1 eos=2 unk=0, add_bos and add_space_prefix on.
Vocab DefaultVocab(std::string model);

// Checks sizes and ids: scores/types empty or one per token, special ids in
// range or -1, type values known. Errors name the GGUF key, e.g.
// "[tokenizer] tokenizer.ggml.scores has 3 entries but tokenizer.ggml.tokens has 4".
Status ValidateVocab(const Vocab& vocab);

// Reads tokenizer.ggml.* from a GGUF file. Only `tokenizer.ggml.tokens` is
// required; scores default to 0, types to normal, ids and flags to
// DefaultVocab's (a default id past the vocabulary's end becomes -1). Ids
// stored as -1 or 0xFFFFFFFF mean "none".
Result<Vocab> LoadVocabFromGguf(const GgufFile& gguf);

}  // namespace plexus
