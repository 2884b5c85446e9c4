// Pre-tokenization for byte-level BPE: the text is cut into pieces by a
// model's regular expressions before any merge, so that no token crosses a
// piece boundary (e.g. no token joins a word and the digits after it).
//
// Each model names its pre-tokenizer in `tokenizer.ggml.pre`; the table of
// names and regexes is data, in pre_tokenizer_table.cc. The regexes are run
// on PCRE2 with UTF and Unicode properties. Applied in sequence as Hugging
// Face's Split(behavior = Isolated) does: each regex cuts every piece into its
// matches and the text between them, and the next regex sees those pieces
// one at a time (a lookahead never looks past the end of its piece).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace plexus {

struct PreTokenizerSpec {
  std::vector<std::string_view> names;    // first: the canonical name
  std::vector<std::string_view> regexes;  // as published in the model's tokenizer.json
  // A piece that is itself a token is emitted whole, without merging
  // (tokenizer.json "ignore_merges": Llama 3).
  bool ignore_merges = false;
  // The text is NFC-normalized first (tokenizer.json "normalizer": NFC: Qwen).
  bool nfc = false;
};

// The spec called `name` (an empty name means "default"); null when unknown.
const PreTokenizerSpec* FindPreTokenizer(std::string_view name);
// The spec whose regexes are exactly `regexes`, in order; null when none.
const PreTokenizerSpec* FindPreTokenizerByRegexes(std::span<const std::string> regexes);
// "default, llama-bpe, qwen2, ...": for error messages.
std::string PreTokenizerNames();
// GPT-2's regex: what a ByteLevel pre-tokenizer with use_regex applies.
std::string_view Gpt2Regex();

class PreTokenizer {
 public:
  // Compiles the spec's regexes; an error names the regex and the offset.
  static Result<std::unique_ptr<PreTokenizer>> Create(const PreTokenizerSpec& spec);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Appends the pieces of `text` (well-formed UTF-8), views into it that
  // cover it in order. Thread-safe.
  void Split(std::string_view text, std::vector<std::string_view>* pieces) const;

 private:
  class Regex;
  PreTokenizer() = default;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace plexus
