#include "model/synth_vocab.h"

#include <fmt/format.h>

#include <array>
#include <string_view>
#include <unordered_set>

#include "base/status.h"

namespace plexus {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581 "▁", SPM's word boundary

constexpr std::array<std::string_view, 64> kCommonWords = {
    "the",  "of",   "and",   "to",    "a",     "in",    "is",    "it",    "you",   "that",  "he",
    "was",  "for",  "on",    "are",   "with",  "as",    "I",     "his",   "they",  "be",    "at",
    "one",  "have", "this",  "from",  "or",    "had",   "by",    "not",   "word",  "but",   "what",
    "some", "we",   "can",   "out",   "other", "were",  "all",   "there", "when",  "up",    "use",
    "your", "how",  "said",  "an",    "each",  "she",   "which", "do",    "their", "time",  "if",
    "will", "way",  "about", "many",  "then",  "them",  "would", "Hello", "world",
};

constexpr std::array<std::string_view, 24> kCommonBigrams = {
    "th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "ti", "es",
    "or", "te", "of", "ed", "is", "it", "al", "ar", "st", "to", "nt", "ng",
};

constexpr std::string_view kPunctuation = ".,!?'\"-:;()";

// Appends normal pieces in priority order until `out` holds n_vocab tokens.
class PieceSink {
 public:
  PieceSink(SynthVocab* out, int64_t n_vocab) : out_(out), n_vocab_(n_vocab) {
    for (const auto& t : out->tokens) seen_.insert(t);
  }
  bool full() const { return static_cast<int64_t>(out_->tokens.size()) >= n_vocab_; }
  void Add(std::string piece) {
    if (full() || !seen_.insert(piece).second) return;
    // Strictly descending, like SPM log-probabilities: earlier pieces merge first.
    out_->scores.push_back(-static_cast<float>(out_->tokens.size() - kSynthMinVocab));
    out_->tokens.push_back(std::move(piece));
    out_->types.push_back(kTokNormal);
  }
  void AddWithAndWithoutSpace(std::string_view piece) {
    Add(std::string(kSpace) + std::string(piece));
    Add(std::string(piece));
  }

 private:
  SynthVocab* out_;
  int64_t n_vocab_;
  std::unordered_set<std::string> seen_;
};

void AddSpecialAndByteTokens(SynthVocab* v) {
  v->tokens = {"<unk>", "<s>", "</s>"};
  v->types = {kTokUnknown, kTokControl, kTokControl};
  for (int b = 0; b < 256; ++b) {
    v->tokens.push_back(fmt::format("<0x{:02X}>", b));
    v->types.push_back(kTokByte);
  }
  v->scores.assign(v->tokens.size(), 0.0f);
}

void AddShortPieces(PieceSink* sink) {
  sink->Add(std::string(kSpace));
  for (char c = 'a'; c <= 'z'; ++c) sink->AddWithAndWithoutSpace(std::string(1, c));
  for (char c = 'A'; c <= 'Z'; ++c) sink->AddWithAndWithoutSpace(std::string(1, c));
  for (char c = '0'; c <= '9'; ++c) sink->AddWithAndWithoutSpace(std::string(1, c));
  for (char c : kPunctuation) sink->Add(std::string(1, c));
  for (auto w : kCommonWords) sink->AddWithAndWithoutSpace(w);
  for (auto b : kCommonBigrams) sink->AddWithAndWithoutSpace(b);
}

void AddBigramsAndFiller(PieceSink* sink) {
  for (char a = 'a'; a <= 'z' && !sink->full(); ++a)
    for (char b = 'a'; b <= 'z'; ++b) sink->AddWithAndWithoutSpace(std::string{a, b});
  for (int64_t n = 0; !sink->full(); ++n) sink->Add(fmt::format("{}tok{}", kSpace, n));
}

}  // namespace

SynthVocab BuildSynthVocab(int64_t n_vocab) {
  PLEXUS_CHECK(n_vocab >= kSynthMinVocab && n_vocab <= kSynthMaxVocab, "vocab {}", n_vocab);
  SynthVocab vocab;
  AddSpecialAndByteTokens(&vocab);
  vocab.tokens.reserve(n_vocab);
  PieceSink sink(&vocab, n_vocab);
  AddShortPieces(&sink);
  AddBigramsAndFiller(&sink);
  return vocab;
}

}  // namespace plexus
