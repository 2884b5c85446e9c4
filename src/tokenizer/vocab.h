// Vocab: a tokenizer's data as stored in GGUF metadata (`tokenizer.ggml.*`),
// independent of the algorithm that uses it.
//
// The same struct serves every algorithm: SentencePiece ("llama") uses
// tokens/scores/types, byte-level BPE ("gpt2") tokens/types/merges/pre,
// WordPiece ("bert") tokens/types.
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
inline constexpr std::string_view kEot = "tokenizer.ggml.eot_token_id";
inline constexpr std::string_view kEom = "tokenizer.ggml.eom_token_id";
// BERT vocabularies name BOS/EOS after their role (llama.cpp's spelling).
inline constexpr std::string_view kCls = "tokenizer.ggml.cls_token_id";
inline constexpr std::string_view kSep = "tokenizer.ggml.seperator_token_id";
inline constexpr std::string_view kChatTemplate = "tokenizer.chat_template";
}  // namespace vocab_keys

struct Vocab {
  std::string model;  // "llama" (SentencePiece), "gpt2" (byte-level BPE), "bert" (WordPiece)
  std::string pre;    // pre-tokenizer name (BPE only; "default" or empty for SPM)
  // id -> text as stored: SentencePiece and WordPiece write a space as U+2581
  // "▁", byte-level BPE spells bytes in GPT-2's characters ("Ġ", byte_level.h).
  std::vector<std::string> tokens;
  std::vector<float> scores;        // id -> merge priority (SPM: higher merges first)
  std::vector<int32_t> types;       // id -> TokenType value
  std::vector<std::string> merges;  // BPE merge rules "a b", highest priority first
  std::string chat_template;        // Jinja template (tokenizer.chat_template), may be empty

  // Special ids; -1 means "none".
  int32_t bos = -1;
  int32_t eos = -1;
  int32_t unk = -1;
  int32_t pad = -1;
  int32_t eot = -1;  // end of turn: <|eot_id|> (Llama 3), <|im_end|> (Qwen)
  int32_t eom = -1;  // end of message: <|eom_id|> (Llama 3.1 tool calls)
  bool add_bos = false;
  bool add_eos = false;
  // SentencePiece prepends a space to the text (and Decode removes it again).
  bool add_space_prefix = false;

  size_t size() const { return tokens.size(); }
  TokenType type(int32_t id) const { return static_cast<TokenType>(types[id]); }
  // End-of-generation ids: eos, eot and eom, those that are set, without repeats.
  std::vector<int32_t> eog_ids() const;
};

// A Vocab for `model` with the defaults llama.cpp applies when a key is
// absent: for "llama", bos=1 eos=2 unk=0, add_bos and add_space_prefix on;
// for "bert", [UNK]=100 [CLS]=101 (bos) [SEP]=102 (eos) [PAD]=0, add_bos and
// add_eos on, and add_space_prefix (its words start with the phantom "▁").
Vocab DefaultVocab(std::string model);

// Fills eot/eom, when unset, from well-known control token texts
// ("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"; "<|eom_id|>"), as
// llama.cpp does for files that predate those keys.
void DetectEndOfTurn(Vocab* vocab);

// Checks sizes and ids: scores/types empty or one per token, special ids in
// range or -1, type values known. Errors name the GGUF key, e.g.
// "[tokenizer] tokenizer.ggml.scores has 3 entries but tokenizer.ggml.tokens has 4".
Status ValidateVocab(const Vocab& vocab);

// Reads tokenizer.ggml.* from a GGUF file. Only `tokenizer.ggml.tokens` is
// required; scores default to 0, types to normal, ids and flags to
// DefaultVocab's (a default id past the vocabulary's end becomes -1). Ids
// stored as -1 or 0xFFFFFFFF mean "none".
Result<Vocab> LoadVocabFromGguf(const GgufFile& gguf);

// Writes `vocab` as a GGUF holding only tokenizer metadata (no tensors), in
// the keys LoadVocabFromGguf reads. An id of -1 is left out, or written as
// 0xFFFFFFFF ("none") where the loader would otherwise fill in a default.
Status WriteVocabGguf(const Vocab& vocab, const std::string& path);

}  // namespace plexus
