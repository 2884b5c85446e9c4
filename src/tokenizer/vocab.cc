// Vocab defaults and validation. Kept apart from the GGUF loader so that
// in-memory tokenizers (tests, tools) do not pull in the GGUF reader.
#include "tokenizer/vocab.h"

#include <algorithm>
#include <cmath>

namespace plexus {
namespace {

constexpr std::string_view kTag = "tokenizer";

Status CheckSpecialId(int32_t id, std::string_view key, size_t n_tokens) {
  if (id == -1) return Status::Ok();
  if (id < 0 || static_cast<size_t>(id) >= n_tokens) {
    return Status::Errorf(kTag, "{} = {} is out of range (the vocabulary has {} tokens)", key,
                          id, n_tokens);
  }
  return Status::Ok();
}

}  // namespace

Vocab DefaultVocab(std::string model) {
  Vocab vocab;
  vocab.model = std::move(model);
  if (vocab.model == "llama") {
    // SentencePiece Llama vocabularies: <unk>=0, <s>=1, </s>=2.
    vocab.unk = 0;
    vocab.bos = 1;
    vocab.eos = 2;
    vocab.add_bos = true;
    vocab.add_space_prefix = true;
  }
  if (vocab.model == "bert") {
    vocab.pad = 0;
    vocab.unk = 100;
    vocab.bos = 101;  // [CLS]
    vocab.eos = 102;  // [SEP]
    vocab.add_bos = true;
    vocab.add_eos = true;
    vocab.add_space_prefix = true;
  }
  return vocab;
}

std::vector<int32_t> Vocab::eog_ids() const {
  std::vector<int32_t> ids;
  for (int32_t id : {eos, eot, eom}) {
    if (id != -1 && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  return ids;
}

void DetectEndOfTurn(Vocab* vocab) {
  constexpr std::string_view kEotTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>",
                                            "<end_of_turn>"};
  constexpr std::string_view kEomText = "<|eom_id|>";
  const bool typed = vocab->types.size() == vocab->tokens.size();
  for (size_t id = 0; id < vocab->tokens.size(); ++id) {
    if (typed && vocab->types[id] != static_cast<int32_t>(TokenType::kControl)) continue;
    const std::string& text = vocab->tokens[id];
    if (vocab->eom == -1 && text == kEomText) vocab->eom = int32_t(id);
    if (vocab->eot != -1) continue;
    for (std::string_view eot : kEotTexts) {
      if (text == eot) vocab->eot = int32_t(id);
    }
  }
}

Status ValidateVocab(const Vocab& vocab) {
  using namespace vocab_keys;
  const size_t n = vocab.tokens.size();
  if (n == 0) return Status::Errorf(kTag, "{} is empty", kTokens);
  // Ids are int32_t everywhere; a larger vocabulary cannot be addressed.
  if (n > static_cast<size_t>(INT32_MAX)) {
    return Status::Errorf(kTag, "{} has {} entries, more than int32 ids can address", kTokens, n);
  }
  if (!vocab.scores.empty() && vocab.scores.size() != n) {
    return Status::Errorf(kTag, "{} has {} entries but {} has {}", kScores, vocab.scores.size(),
                          kTokens, n);
  }
  if (!vocab.types.empty() && vocab.types.size() != n) {
    return Status::Errorf(kTag, "{} has {} entries but {} has {}", kTokenType, vocab.types.size(),
                          kTokens, n);
  }
  // NaN would break the merge queue's ordering (and means a broken file).
  for (size_t id = 0; id < vocab.scores.size(); ++id) {
    if (std::isnan(vocab.scores[id])) return Status::Errorf(kTag, "{}[{}] is NaN", kScores, id);
  }
  for (size_t id = 0; id < vocab.types.size(); ++id) {
    const int32_t t = vocab.types[id];
    if (t < 0 || t > static_cast<int32_t>(TokenType::kByte)) {
      return Status::Errorf(kTag, "{}[{}] = {} is not a known token type (0..6)", kTokenType, id,
                            t);
    }
  }
  PLEXUS_RETURN_IF_ERROR(CheckSpecialId(vocab.bos, kBos, n));
  PLEXUS_RETURN_IF_ERROR(CheckSpecialId(vocab.eos, kEos, n));
  PLEXUS_RETURN_IF_ERROR(CheckSpecialId(vocab.unk, kUnk, n));
  PLEXUS_RETURN_IF_ERROR(CheckSpecialId(vocab.pad, kPad, n));
  PLEXUS_RETURN_IF_ERROR(CheckSpecialId(vocab.eot, kEot, n));
  PLEXUS_RETURN_IF_ERROR(CheckSpecialId(vocab.eom, kEom, n));
  if (vocab.add_bos && vocab.bos == -1) {
    return Status::Errorf(kTag, "{} is set but there is no {}", kAddBos, kBos);
  }
  if (vocab.add_eos && vocab.eos == -1) {
    return Status::Errorf(kTag, "{} is set but there is no {}", kAddEos, kEos);
  }
  return Status::Ok();
}

}  // namespace plexus
