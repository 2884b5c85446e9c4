// Tokenizer base: the algorithm factory, special-token splitting, BOS/EOS
// and decoding. The algorithms live in their own files (spm_tokenizer.cc).
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <array>

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/wordpiece_tokenizer.h"

namespace plexus {
namespace {

// One row per supported `tokenizer.ggml.model`.
struct Algorithm {
  std::string_view model;
  Result<std::unique_ptr<Tokenizer>> (*create)(Vocab vocab);
};
constexpr std::array<Algorithm, 3> kAlgorithms = {{
    {"llama", CreateSpmTokenizer},
    {"gpt2", CreateBpeTokenizer},
    {"bert", CreateWordPieceTokenizer},
}};

bool IsSpecialType(TokenType t) {
  return t == TokenType::kUserDefined || t == TokenType::kControl || t == TokenType::kUnknown;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::Create(Vocab vocab) {
  PLEXUS_RETURN_IF_ERROR(ValidateVocab(vocab));
  std::string supported;
  for (const Algorithm& algorithm : kAlgorithms) {
    if (algorithm.model == vocab.model) return algorithm.create(std::move(vocab));
    supported += supported.empty() ? "" : ", ";
    supported += algorithm.model;
  }
  return Status::Errorf("tokenizer", "unsupported tokenizer model '{}' ({}); supported: {}",
                        vocab.model, vocab_keys::kModel, supported);
}

Tokenizer::Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {
  const size_t n = vocab_.tokens.size();
  if (vocab_.scores.empty()) vocab_.scores.assign(n, 0.0f);
  if (vocab_.types.empty()) vocab_.types.assign(n, static_cast<int32_t>(TokenType::kNormal));
  PLEXUS_CHECK(vocab_.scores.size() == n && vocab_.types.size() == n,
               "Tokenizer built from a vocabulary that did not pass ValidateVocab");
  token_to_id_.reserve(n);
  // A text that appears twice maps to its first id.
  for (size_t id = 0; id < n; ++id) token_to_id_.emplace(vocab_.tokens[id], int32_t(id));
  eog_ids_ = vocab_.eog_ids();
  BuildSpecialIndex();
}

void Tokenizer::BuildSpecialIndex() {
  specials_by_first_byte_.assign(256, {});
  for (size_t id = 0; id < size(); ++id) {
    const std::string& text = vocab_.tokens[id];
    if (text.empty() || !IsSpecialType(vocab_.type(int32_t(id)))) continue;
    specials_by_first_byte_[static_cast<uint8_t>(text[0])].push_back(int32_t(id));
  }
  // Longest first, so that "<|im_end|>" wins over a shorter "<|im".
  for (std::vector<int32_t>& bucket : specials_by_first_byte_) {
    std::stable_sort(bucket.begin(), bucket.end(), [&](int32_t a, int32_t b) {
      return vocab_.tokens[a].size() > vocab_.tokens[b].size();
    });
  }
}

Tokenizer::SpecialMatch Tokenizer::MatchSpecial(std::string_view text, size_t pos,
                                                bool parse_special) const {
  const std::string_view rest = text.substr(pos);
  for (int32_t id : specials_by_first_byte_[static_cast<uint8_t>(rest[0])]) {
    if (!parse_special && vocab_.type(id) != TokenType::kUserDefined) continue;
    const std::string& token = vocab_.tokens[id];
    if (rest.starts_with(token)) return {id, token.size()};
  }
  return {};
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, const EncodeOptions& options) const {
  std::vector<int32_t> ids;
  if (options.add_bos.value_or(vocab_.add_bos) && vocab_.bos != -1) ids.push_back(vocab_.bos);
  bool after_special = true;  // the start of the input counts as "after a special"
  size_t run_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const SpecialMatch match = MatchSpecial(text, pos, options.parse_special);
    if (match.length == 0) {
      ++pos;
      continue;
    }
    if (pos > run_start) {
      EncodeText(text.substr(run_start, pos - run_start), after_special, &ids);
    }
    ids.push_back(match.id);
    after_special = true;
    pos += match.length;
    run_start = pos;
  }
  if (run_start < text.size()) EncodeText(text.substr(run_start), after_special, &ids);
  if (options.add_eos.value_or(vocab_.add_eos) && vocab_.eos != -1) ids.push_back(vocab_.eos);
  return ids;
}

std::string Tokenizer::Decode(std::span<const int32_t> ids, const DecodeOptions& options) const {
  std::string text;
  // SentencePiece removes the space it prefixed from the first piece of text;
  // control tokens before it (BOS) do not count as text.
  bool strip_space = options.at_sequence_start && vocab_.add_space_prefix;
  for (int32_t id : ids) {
    if (!IsValid(id)) continue;
    if (IsControl(id)) {
      if (options.render_control) text += vocab_.tokens[id];
      continue;
    }
    std::string_view piece = TokenToPiece(id);
    if (strip_space && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
    strip_space = false;
    text += piece;
  }
  return text;
}

const std::string& Tokenizer::TokenText(int32_t id) const {
  static const std::string kEmpty;
  return IsValid(id) ? vocab_.tokens[id] : kEmpty;
}

int32_t Tokenizer::TokenToId(std::string_view text) const {
  auto it = token_to_id_.find(text);
  return it == token_to_id_.end() ? -1 : it->second;
}

}  // namespace plexus
