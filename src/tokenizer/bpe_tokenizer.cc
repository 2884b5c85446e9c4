// Byte-level BPE encoding, as GPT-2 and Hugging Face's BPE model behind a
// ByteLevel pre-tokenizer do it:
//   1. the text is NFC-normalized when the pre-tokenizer asks for it (Qwen);
//   2. the pre-tokenizer cuts it into pieces (pre_tokenizer.h);
//   3. with ignore_merges (Llama 3), a piece that is a token is that token;
//   4. otherwise each byte of the piece starts as its byte-level character's
//      token, and repeatedly the adjacent pair whose merge rule has the lowest
//      rank (its index in tokenizer.ggml.merges) is merged, leftmost first on
//      ties, into the token the rule names.
// Bytes that are not well-formed UTF-8 (which no regex can see) skip steps
// 1-3: each run of them is a piece of its own, so that Decode returns them
// (when the vocabulary has a token for each of them: see Init).
#include "tokenizer/bpe_tokenizer.h"

#include <array>
#include <queue>
#include <unordered_map>

#include "tokenizer/byte_level.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/unicode_text.h"

namespace plexus {
namespace {

constexpr std::string_view kTag = "tokenizer";

struct MergeRule {
  int32_t rank;
  int32_t id;  // the merged token
};
uint64_t PairKey(int32_t left, int32_t right) {
  return (uint64_t{uint32_t(left)} << 32) | uint32_t(right);
}

// A token in a doubly linked list over one piece. Merging folds the right
// symbol into the left one and marks the right one dead.
constexpr int32_t kDead = -2;
struct Symbol {
  int32_t id;  // -1: a byte the vocabulary has no token for
  int32_t prev;
  int32_t next;
};

// A possible merge of symbols[left] and symbols[right]. It is stale when
// either symbol has changed since (merged, or died): their ids tell.
struct Candidate {
  int32_t rank;
  int32_t left;
  int32_t right;
  int32_t left_id;
  int32_t right_id;
  int32_t id;
};
struct CandidateOrder {  // priority_queue's "less": lowest rank, then leftmost, on top
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};
using CandidateQueue = std::priority_queue<Candidate, std::vector<Candidate>, CandidateOrder>;

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {}
  Status Init();

 protected:
  void EncodeText(std::string_view text, bool after_special,
                  std::vector<int32_t>* ids) const override;

 private:
  Status InitMerges();
  void EncodeWellFormed(std::string_view text, std::vector<int32_t>* ids) const;
  void EncodePiece(std::string_view piece, std::vector<int32_t>* ids) const;
  void TryAddCandidate(const std::vector<Symbol>& symbols, int32_t left,
                       CandidateQueue* queue) const;

  const PreTokenizerSpec* spec_ = nullptr;
  std::unique_ptr<PreTokenizer> pre_;
  std::unordered_map<uint64_t, MergeRule> merges_;  // PairKey(left id, right id) -> rule
  std::array<int32_t, 256> byte_ids_{};             // byte -> its character's token, or -1
};

Status BpeTokenizer::Init() {
  spec_ = FindPreTokenizer(vocab().pre);
  if (spec_ == nullptr) {
    return Status::Errorf(kTag, "unknown pre-tokenizer '{}' ({}); supported: {}", vocab().pre,
                          vocab_keys::kPre, PreTokenizerNames());
  }
  PLEXUS_ASSIGN_OR_RETURN(pre_, PreTokenizer::Create(*spec_));
  // Vocabularies trained on UTF-8 may lack the bytes UTF-8 never uses (C0, C1,
  // F5..FF), or have them only as added tokens that decode as typed ("ø"):
  // such a byte in the input becomes the unknown token, or nothing.
  for (int byte = 0; byte < 256; ++byte) {
    const int32_t id = TokenToId(byte_level::Encode(std::string(1, static_cast<char>(byte))));
    byte_ids_[byte] = (id != -1 && type(id) == TokenType::kNormal) ? id : -1;
  }
  PLEXUS_RETURN_IF_ERROR(InitMerges());
  pieces_.resize(size());
  for (int32_t id = 0; id < int32_t(size()); ++id) {
    switch (type(id)) {
      case TokenType::kControl: break;  // contributes no text
      case TokenType::kUserDefined: pieces_[id] = TokenText(id); break;  // stored as typed
      default: pieces_[id] = byte_level::Decode(TokenText(id)); break;
    }
  }
  return Status::Ok();
}

Status BpeTokenizer::InitMerges() {
  const std::vector<std::string>& merges = vocab().merges;
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string_view rule = merges[rank];
    const size_t space = rule.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 == rule.size() ||
        rule.find(' ', space + 1) != std::string_view::npos) {
      return Status::Errorf(kTag, "{}[{}] = '{}' is not two tokens separated by one space",
                            vocab_keys::kMerges, rank, rule);
    }
    const std::string_view left = rule.substr(0, space);
    const std::string_view right = rule.substr(space + 1);
    const std::string merged = std::string(left) + std::string(right);
    for (std::string_view part : {left, right, std::string_view(merged)}) {
      if (TokenToId(part) == -1) {
        return Status::Errorf(kTag, "{}[{}] = '{}' names '{}', which is not in {}",
                              vocab_keys::kMerges, rank, rule, part, vocab_keys::kTokens);
      }
    }
    // A repeated rule keeps its first (highest-priority) rank.
    merges_.emplace(PairKey(TokenToId(left), TokenToId(right)),
                    MergeRule{int32_t(rank), TokenToId(merged)});
  }
  return Status::Ok();
}

void BpeTokenizer::EncodeText(std::string_view text, bool /*after_special*/,
                              std::vector<int32_t>* ids) const {
  size_t start = 0;  // start of the current well-formed run
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t length = unicode::ValidUtf8Length(text, pos);
    if (length != 0) {
      pos += length;
      continue;
    }
    EncodeWellFormed(text.substr(start, pos - start), ids);
    const size_t bad_start = pos;
    while (pos < text.size() && unicode::ValidUtf8Length(text, pos) == 0) ++pos;
    EncodePiece(text.substr(bad_start, pos - bad_start), ids);
    start = pos;
  }
  EncodeWellFormed(text.substr(start), ids);
}

void BpeTokenizer::EncodeWellFormed(std::string_view text, std::vector<int32_t>* ids) const {
  if (text.empty()) return;
  std::string normalized;
  if (spec_->nfc) {
    normalized = unicode::Nfc(text);
    text = normalized;
  }
  std::vector<std::string_view> pieces;
  pre_->Split(text, &pieces);
  for (std::string_view piece : pieces) EncodePiece(piece, ids);
}

void BpeTokenizer::TryAddCandidate(const std::vector<Symbol>& symbols, int32_t left,
                                   CandidateQueue* queue) const {
  if (left == -1) return;
  const int32_t right = symbols[left].next;
  if (right == -1) return;
  const int32_t left_id = symbols[left].id;
  const int32_t right_id = symbols[right].id;
  if (left_id < 0 || right_id < 0) return;
  auto it = merges_.find(PairKey(left_id, right_id));
  if (it == merges_.end()) return;
  queue->push(Candidate{it->second.rank, left, right, left_id, right_id, it->second.id});
}

void BpeTokenizer::EncodePiece(std::string_view piece, std::vector<int32_t>* ids) const {
  if (spec_->ignore_merges && piece.size() > 1) {
    const int32_t whole = TokenToId(byte_level::Encode(piece));
    if (whole != -1) {
      ids->push_back(whole);
      return;
    }
  }
  const int32_t n = int32_t(piece.size());
  std::vector<Symbol> symbols(n);
  for (int32_t i = 0; i < n; ++i) {
    symbols[i] = Symbol{byte_ids_[static_cast<uint8_t>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1};
  }
  CandidateQueue queue;
  for (int32_t i = 0; i + 1 < n; ++i) TryAddCandidate(symbols, i, &queue);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& left = symbols[c.left];
    Symbol& right = symbols[c.right];
    if (left.id != c.left_id || right.id != c.right_id || left.next != c.right) continue;
    left.id = c.id;
    left.next = right.next;
    if (right.next != -1) symbols[right.next].prev = c.left;
    right.id = kDead;
    TryAddCandidate(symbols, left.prev, &queue);
    TryAddCandidate(symbols, c.left, &queue);
  }
  for (int32_t i = 0; i != -1 && n > 0; i = symbols[i].next) {
    const int32_t id = symbols[i].id == -1 ? unk() : symbols[i].id;
    if (id != -1) ids->push_back(id);
  }
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> CreateBpeTokenizer(Vocab vocab) {
  auto tokenizer = std::make_unique<BpeTokenizer>(std::move(vocab));
  PLEXUS_RETURN_IF_ERROR(tokenizer->Init());
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

}  // namespace plexus
