// SentencePiece BPE encoding with byte fallback, as SentencePiece's BPE model
// and llama.cpp's "SPM" vocabulary do it:
//   1. spaces become "▁" (U+2581), and a "▁" is prefixed to a run of text
//      that starts the input or follows a special token (add_space_prefix);
//   2. the text is split into UTF-8 characters, the initial symbols;
//   3. repeatedly, the adjacent pair whose concatenation is a vocabulary token
//      with the highest score is merged (ties: leftmost pair first);
//   4. each final symbol becomes its token; a symbol that is no token (only a
//      single character can be one) becomes one "<0xAB>" token per byte, or
//      one <unk> when the vocabulary lacks byte tokens.
// Only normal, user-defined and undefined tokens take part in merges: control,
// byte, unknown and unused tokens are never produced from text by merging.
#include "tokenizer/spm_tokenizer.h"

#include <array>
#include <optional>
#include <queue>
#include <unordered_set>

#include <fmt/format.h>

namespace plexus {
namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581 "▁"
// What llama.cpp prints for <unk> (U+2585 "▅"); kept so decoded text matches it.
constexpr std::string_view kUnknownPiece = "\xE2\x96\x85";

// Bytes in the UTF-8 character at text[pos]. The lead byte gives the length,
// but only continuation bytes (10xxxxxx) that are really there count: a
// broken sequence must not swallow the next character (a "▁" swallowed that
// way would come back from Decode as raw bytes instead of a space). Invalid
// bytes are one-byte symbols, which end up as byte tokens.
size_t Utf8CharLength(std::string_view text, size_t pos) {
  const uint8_t lead = static_cast<uint8_t>(text[pos]);
  size_t length = 1;
  if ((lead & 0xE0) == 0xC0) length = 2;
  if ((lead & 0xF0) == 0xE0) length = 3;
  if ((lead & 0xF8) == 0xF0) length = 4;
  for (size_t i = 1; i < length; ++i) {
    if (pos + i >= text.size() || (static_cast<uint8_t>(text[pos + i]) & 0xC0) != 0x80) return i;
  }
  return length;
}

// "<0xAB>" -> 0xAB; anything else -> nullopt.
std::optional<uint8_t> ParseByteToken(std::string_view text) {
  if (text.size() != 6 || !text.starts_with("<0x") || text.back() != '>') return std::nullopt;
  int value = 0;
  for (char c : text.substr(3, 2)) {
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    if (digit < 0) return std::nullopt;
    value = value * 16 + digit;
  }
  return static_cast<uint8_t>(value);
}

std::string ReplaceAll(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  for (size_t hit; (hit = text.find(from, pos)) != std::string_view::npos; pos = hit + from.size()) {
    out.append(text.substr(pos, hit - pos));
    out.append(to);
  }
  out.append(text.substr(pos));
  return out;
}

// A span of the normalized text in a doubly linked list; merged-away
// symbols have length 0.
struct Symbol {
  int32_t prev;
  int32_t next;
  size_t start;
  size_t length;
};

// A candidate merge of symbols[left] and its right neighbour. `length` is
// their combined length when the candidate was made: if either side has
// changed since, the lengths no longer add up and the entry is stale.
struct Bigram {
  float score;
  int32_t left;
  int32_t right;
  size_t length;
};
struct BigramOrder {  // priority_queue's "less": higher score, then leftmost, on top
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};
using BigramQueue = std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder>;

class SpmTokenizer final : public Tokenizer {
 public:
  explicit SpmTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {}
  Status Init();

 protected:
  void EncodeText(std::string_view text, bool after_special,
                  std::vector<int32_t>* ids) const override;

 private:
  // The id of `text` if it may result from merging; -1 otherwise.
  int32_t MergeableId(std::string_view text) const;
  void TryAddBigram(std::string_view text, const std::vector<Symbol>& symbols, int32_t left,
                    BigramQueue* queue) const;
  void EmitSymbol(std::string_view piece, std::vector<int32_t>* ids) const;
  void EncodeSegment(std::string_view text, std::vector<int32_t>* ids) const;
  void AddJoinableChars(std::string_view token);  // views into the vocabulary

  bool has_byte_fallback_ = false;          // all 256 "<0xAB>" tokens exist
  std::array<int32_t, 256> byte_to_id_{};  // byte -> "<0xAB>" token
  // Characters that occur in some mergeable token of two or more characters.
  // Any other character can never be merged with a neighbour, so no merge
  // crosses it: the text is cut there into segments that are merged apart.
  // Same result, but small merge queues instead of one the size of the text
  // (a 1 MiB prompt otherwise spends its time in cache misses in the heap).
  std::unordered_set<std::string_view> joinable_chars_;
};

Status SpmTokenizer::Init() {
  has_byte_fallback_ = true;
  for (int b = 0; b < 256; ++b) {
    byte_to_id_[b] = TokenToId(fmt::format("<0x{:02X}>", b));
    has_byte_fallback_ = has_byte_fallback_ && byte_to_id_[b] != -1;
  }
  if (!has_byte_fallback_ && unk() == -1) {
    return Status::Errorf("tokenizer",
                          "llama vocabulary has neither all 256 byte tokens (<0x00>..<0xFF>) nor "
                          "an unknown token ({}) for characters outside it",
                          vocab_keys::kUnk);
  }
  pieces_.resize(size());
  for (int32_t id = 0; id < int32_t(size()); ++id) {
    const std::string& text = TokenText(id);
    switch (type(id)) {
      case TokenType::kControl: break;  // contributes no text
      case TokenType::kByte: {
        std::optional<uint8_t> byte = ParseByteToken(text);
        if (byte) pieces_[id].assign(1, static_cast<char>(*byte));
        break;
      }
      case TokenType::kUnknown: pieces_[id] = kUnknownPiece; break;
      case TokenType::kUserDefined: pieces_[id] = text; break;
      default: pieces_[id] = ReplaceAll(text, kSpaceMark, " "); break;
    }
    if (MergeableId(text) == id) AddJoinableChars(text);
  }
  return Status::Ok();
}

void SpmTokenizer::AddJoinableChars(std::string_view token) {
  const size_t first_length = Utf8CharLength(token, 0);
  if (first_length == token.size()) return;  // one character: joins nothing
  for (size_t pos = 0; pos < token.size();) {
    const size_t length = Utf8CharLength(token, pos);
    joinable_chars_.insert(token.substr(pos, length));
    pos += length;
  }
}

int32_t SpmTokenizer::MergeableId(std::string_view text) const {
  const int32_t id = TokenToId(text);
  if (id == -1) return -1;
  switch (type(id)) {
    case TokenType::kNormal:
    case TokenType::kUserDefined:
    case TokenType::kUndefined: return id;
    default: return -1;
  }
}

void SpmTokenizer::TryAddBigram(std::string_view text, const std::vector<Symbol>& symbols,
                                int32_t left, BigramQueue* queue) const {
  if (left == -1) return;
  const int32_t right = symbols[left].next;
  if (right == -1) return;
  const size_t length = symbols[left].length + symbols[right].length;
  const int32_t id = MergeableId(text.substr(symbols[left].start, length));
  if (id == -1) return;
  queue->push(Bigram{vocab().scores[id], left, right, length});
}

void SpmTokenizer::EmitSymbol(std::string_view piece, std::vector<int32_t>* ids) const {
  const int32_t id = MergeableId(piece);
  if (id != -1) {
    ids->push_back(id);
    return;
  }
  if (!has_byte_fallback_) {
    ids->push_back(unk());
    return;
  }
  for (char c : piece) ids->push_back(byte_to_id_[static_cast<uint8_t>(c)]);
}

void SpmTokenizer::EncodeText(std::string_view raw, bool after_special,
                              std::vector<int32_t>* ids) const {
  std::string text = (after_special && vocab().add_space_prefix) ? std::string(kSpaceMark) : "";
  text += ReplaceAll(raw, " ", kSpaceMark);
  const std::string_view view = text;
  size_t segment_start = 0;
  for (size_t pos = 0; pos < view.size();) {
    const size_t length = Utf8CharLength(view, pos);
    const std::string_view c = view.substr(pos, length);
    if (!joinable_chars_.contains(c)) {
      EncodeSegment(view.substr(segment_start, pos - segment_start), ids);
      EmitSymbol(c, ids);
      segment_start = pos + length;
    }
    pos += length;
  }
  EncodeSegment(view.substr(segment_start), ids);
}

// Steps 2-4 of the algorithm on one segment of normalized text.
void SpmTokenizer::EncodeSegment(std::string_view text, std::vector<int32_t>* ids) const {
  if (text.empty()) return;
  std::vector<Symbol> symbols;
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = Utf8CharLength(text, pos);
    const int32_t index = int32_t(symbols.size());
    symbols.push_back(Symbol{index - 1, -1, pos, length});
    if (index > 0) symbols[index - 1].next = index;
    pos += length;
  }

  BigramQueue queue;
  for (int32_t i = 0; i + 1 < int32_t(symbols.size()); ++i) TryAddBigram(text, symbols, i, &queue);
  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[bigram.left];
    Symbol& right = symbols[bigram.right];
    if (left.length == 0 || right.length == 0 || left.next != bigram.right ||
        left.length + right.length != bigram.length) {
      continue;  // stale: one side was merged into something else
    }
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next != -1) symbols[right.next].prev = bigram.left;
    TryAddBigram(text, symbols, left.prev, &queue);
    TryAddBigram(text, symbols, bigram.left, &queue);
  }

  for (int32_t i = 0; i != -1; i = symbols[i].next) {
    EmitSymbol(text.substr(symbols[i].start, symbols[i].length), ids);
  }
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> CreateSpmTokenizer(Vocab vocab) {
  auto tokenizer = std::make_unique<SpmTokenizer>(std::move(vocab));
  PLEXUS_RETURN_IF_ERROR(tokenizer->Init());
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

}  // namespace plexus
