// The deterministic SentencePiece (SPM) vocabulary of synthetic models.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace plexus {

// Token types as llama.cpp numbers them (tokenizer.ggml.token_type).
enum SynthTokenType : int32_t { kTokNormal = 1, kTokUnknown = 2, kTokControl = 3, kTokByte = 6 };

constexpr int64_t kSynthMinVocab = 3 + 256;  // <unk> <s> </s> and the byte tokens
constexpr int64_t kSynthMaxVocab = 1 << 22;

struct SynthVocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
};

// 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then unique normal pieces
// ("▁", letters, "▁"+letter, digits, punctuation, common words, bigrams,
// then "▁tok<N>" filler) with strictly descending scores.
// n_vocab must be in [kSynthMinVocab, kSynthMaxVocab].
SynthVocab BuildSynthVocab(int64_t n_vocab);

}  // namespace plexus
