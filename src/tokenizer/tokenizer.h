// Tokenizer: text <-> token ids, one implementation per `tokenizer.ggml.model`.
//
// The base class owns what every algorithm shares: the vocabulary, the
// text -> id map, splitting the input around special tokens, BOS/EOS, and
// decoding by concatenating pieces. An algorithm supplies two things:
// EncodeText (a run of plain text -> ids) and the pieces_ table (id -> bytes).
//
//   "llama": SentencePiece BPE with byte fallback   (spm_tokenizer.cc)
//   "gpt2":  byte-level BPE, regex pre-tokenizers     (bpe_tokenizer.cc)
//   "bert":  WordPiece                                (wordpiece_tokenizer.cc)
//
// Usage:
//   PLEXUS_ASSIGN_OR_RETURN(Vocab vocab, LoadVocabFromGguf(gguf));
//   PLEXUS_ASSIGN_OR_RETURN(auto tok, Tokenizer::Create(std::move(vocab)));
//   std::vector<int32_t> ids = tok->Encode("Hello world");   // BOS per vocab
//   std::string text = tok->Decode(ids);                      // "Hello world"
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "tokenizer/vocab.h"

namespace plexus {

// (GCC's -Wextra warns on designated initializers that leave members out, so
// callers set fields by name: `EncodeOptions o; o.parse_special = true;`.)
struct EncodeOptions {
  std::optional<bool> add_bos;  // unset: the vocabulary's add_bos
  std::optional<bool> add_eos;  // unset: the vocabulary's add_eos
  // Match control and unknown tokens' text ("<s>", "</s>", "<unk>",
  // "<|eot_id|>") in the input and emit their ids. Off for untrusted text, so
  // that a user cannot forge an end-of-sequence. User-defined tokens (added
  // tokens that are not special, e.g. Qwen's "<think>") are always matched.
  bool parse_special = false;
};

struct DecodeOptions {
  // The ids begin the text (a BOS and other control tokens may come first):
  // drop the one space the encoder prefixed (SentencePiece add_space_prefix).
  // False for a continuation, e.g. generated tokens decoded after a prompt.
  bool at_sequence_start = true;
  // Emit control tokens' text ("<s>") instead of nothing.
  bool render_control = false;
};

class Tokenizer {
 public:
  // Validates `vocab` and picks the algorithm from vocab.model. An unknown
  // model is an error naming it and the supported ones.
  static Result<std::unique_ptr<Tokenizer>> Create(Vocab vocab);
  virtual ~Tokenizer() = default;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  std::vector<int32_t> Encode(std::string_view text, const EncodeOptions& options = {}) const;

  // The raw bytes one token contributes to the text: "▁the" -> " the",
  // "<0x0A>" -> "\n", control tokens -> "". Not necessarily whole UTF-8
  // characters (byte tokens). Invalid ids give "". The view lives as long
  // as the tokenizer.
  std::string_view TokenToPiece(int32_t id) const {
    return IsValid(id) ? std::string_view(pieces_[static_cast<size_t>(id)]) : std::string_view();
  }

  // Concatenated pieces; see DecodeOptions for the leading-space rule.
  // Invalid ids contribute nothing.
  std::string Decode(std::span<const int32_t> ids, const DecodeOptions& options = {}) const;
  // Decode of tokens that continue earlier text: no leading space is removed.
  std::string DecodeContinuation(std::span<const int32_t> ids) const {
    DecodeOptions options;
    options.at_sequence_start = false;
    return Decode(ids, options);
  }

  const Vocab& vocab() const { return vocab_; }
  const std::string& model() const { return vocab_.model; }
  size_t size() const { return vocab_.tokens.size(); }
  int32_t bos() const { return vocab_.bos; }
  int32_t eos() const { return vocab_.eos; }
  int32_t unk() const { return vocab_.unk; }
  int32_t pad() const { return vocab_.pad; }
  bool IsValid(int32_t id) const { return id >= 0 && static_cast<size_t>(id) < size(); }
  TokenType type(int32_t id) const { return IsValid(id) ? vocab_.type(id) : TokenType::kUndefined; }
  bool IsControl(int32_t id) const { return type(id) == TokenType::kControl; }
  bool IsByte(int32_t id) const { return type(id) == TokenType::kByte; }
  // End of generation: the model has finished its answer (eos, or the end
  // of a turn or message: Llama 3's <|eot_id|>/<|eom_id|>, Qwen's <|im_end|>).
  bool IsEog(int32_t id) const {
    return id != -1 && std::find(eog_ids_.begin(), eog_ids_.end(), id) != eog_ids_.end();
  }
  const std::vector<int32_t>& eog_ids() const { return eog_ids_; }
  // The vocabulary's text of a token (with "▁", "<0x0A>" as stored).
  const std::string& TokenText(int32_t id) const;
  // Exact vocabulary lookup; -1 when `text` is not a token.
  int32_t TokenToId(std::string_view text) const;

 protected:
  // `vocab` must have passed ValidateVocab; empty scores/types get defaults.
  explicit Tokenizer(Vocab vocab);

  // id -> the bytes TokenToPiece returns; each algorithm fills it in Init.
  std::vector<std::string> pieces_;

  // Appends the ids of `text`, which holds no special token. `after_special`
  // is true for the first run of the input and for a run right after a
  // special token (SentencePiece prefixes a space there).
  virtual void EncodeText(std::string_view text, bool after_special,
                          std::vector<int32_t>* ids) const = 0;

 private:
  struct SpecialMatch {
    int32_t id = -1;
    size_t length = 0;
  };
  void BuildSpecialIndex();
  // The longest special token starting at text[pos]; length 0 when none.
  SpecialMatch MatchSpecial(std::string_view text, size_t pos, bool parse_special) const;

  Vocab vocab_;
  std::vector<int32_t> eog_ids_;  // vocab_.eog_ids()
  std::unordered_map<std::string_view, int32_t> token_to_id_;  // views into vocab_.tokens
  // Special tokens (user-defined, control, unknown) by first byte, longest first.
  std::vector<std::vector<int32_t>> specials_by_first_byte_;
};

}  // namespace plexus
