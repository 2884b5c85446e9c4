// WordPiece encoding, as BERT and Hugging Face's BertNormalizer +
// BertPreTokenizer + WordPiece model do it (lowercasing, uncased models):
//   1. BertBasicSplit cuts the text into words;
//   2. each word is spelled greedily, longest match first, from its start:
//      the first piece must be a word-initial token, the rest continuations;
//   3. a word that cannot be spelled, or longer than 100 characters, is one
//      [UNK].
// GGUF stores WordPiece vocabularies the way llama.cpp converts them: a
// word-initial token carries a phantom space ("▁hello") and a continuation
// is bare ("llo", Hugging Face's "##llo"). So decoding is plain
// concatenation with "▁" read as a space, and the space in front of the
// first word is dropped (the vocabulary's add_space_prefix).
//
// The encoding is lossy: case, accents, control characters and the exact
// whitespace are gone, and punctuation comes back with spaces around it
// ("Hello, World!" decodes as "hello , world !").
#include "tokenizer/wordpiece_tokenizer.h"

#include <algorithm>

#include "tokenizer/unicode_text.h"

namespace plexus {
namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581 "▁"
constexpr size_t kMaxWordChars = 100;  // Hugging Face's max_input_chars_per_word

// The CJK ideograph blocks BERT isolates (as its reference code lists them).
bool IsCjkIdeograph(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

bool IsTabOrNewline(char32_t cp) { return cp == '\t' || cp == '\n' || cp == '\r'; }
bool IsBertWhitespace(char32_t cp) { return IsTabOrNewline(cp) || unicode::IsWhiteSpace(cp); }
bool IsBertControl(char32_t cp) { return !IsTabOrNewline(cp) && unicode::IsOther(cp); }
bool IsBertPunctuation(char32_t cp) {
  const bool ascii_punct = (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) ||
                           (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
  return ascii_punct || unicode::IsPunctuation(cp);
}

// Calls fn(cp, pos, length) for each character; bytes that are not
// well-formed UTF-8 come as U+FFFD.
template <typename Fn>
void ForEachChar(std::string_view text, Fn fn) {
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = unicode::ValidUtf8Length(text, pos);
    fn(length == 0 ? char32_t{0xFFFD} : unicode::DecodeUtf8(text, pos, length), pos,
       std::max<size_t>(length, 1));
    pos += std::max<size_t>(length, 1);
  }
}

// Steps 1-2 of BertNormalizer: clean_text and handle_chinese_chars.
std::string CleanText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  ForEachChar(text, [&](char32_t cp, size_t, size_t) {
    if (cp == 0 || cp == 0xFFFD || IsBertControl(cp)) return;
    if (IsBertWhitespace(cp)) cp = ' ';
    const bool cjk = IsCjkIdeograph(cp);
    if (cjk) out.push_back(' ');
    AppendUtf8(cp, &out);
    if (cjk) out.push_back(' ');
  });
  return out;
}

// Step 3: NFD, then nonspacing marks dropped.
std::string StripAccents(std::string_view text) {
  const std::string nfd = unicode::Nfd(text);
  std::string out;
  out.reserve(nfd.size());
  ForEachChar(nfd, [&](char32_t cp, size_t pos, size_t length) {
    if (!unicode::IsNonspacingMark(cp)) out.append(nfd, pos, length);
  });
  return out;
}

class WordPieceTokenizer final : public Tokenizer {
 public:
  explicit WordPieceTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {}
  Status Init();

 protected:
  void EncodeText(std::string_view text, bool after_special,
                  std::vector<int32_t>* ids) const override;

 private:
  void EncodeWord(std::string_view word, std::vector<int32_t>* ids) const;

  size_t max_token_bytes_ = 0;
};

Status WordPieceTokenizer::Init() {
  if (unk() == -1) {
    return Status::Errorf("tokenizer", "bert vocabulary has no unknown token ({})",
                          vocab_keys::kUnk);
  }
  pieces_.resize(size());
  for (int32_t id = 0; id < int32_t(size()); ++id) {
    const std::string& text = TokenText(id);
    max_token_bytes_ = std::max(max_token_bytes_, text.size());
    if (type(id) == TokenType::kControl) continue;
    if (!text.starts_with(kSpaceMark)) {
      pieces_[id] = text;
      continue;
    }
    std::string piece(1, ' ');
    piece.append(text, kSpaceMark.size(), std::string::npos);
    pieces_[id] = std::move(piece);
  }
  return Status::Ok();
}

void WordPieceTokenizer::EncodeText(std::string_view text, bool /*after_special*/,
                                    std::vector<int32_t>* ids) const {
  for (const std::string& word : BertBasicSplit(text)) EncodeWord(word, ids);
}

void WordPieceTokenizer::EncodeWord(std::string_view word, std::vector<int32_t>* ids) const {
  size_t n_chars = 0;
  ForEachChar(word, [&](char32_t, size_t, size_t) { ++n_chars; });
  const size_t first = ids->size();
  // The phantom space makes the first piece a word-initial token.
  const std::string spelled = std::string(kSpaceMark) + std::string(word);
  bool spelled_out = n_chars <= kMaxWordChars;
  for (size_t start = 0; spelled_out && start < spelled.size();) {
    int32_t id = -1;
    size_t end = std::min(spelled.size(), start + max_token_bytes_);
    for (; end > start; --end) {
      if (start == 0 && end <= kSpaceMark.size()) break;  // the mark alone spells nothing
      // Only whole characters: a cut inside one can never be a token.
      if (end < spelled.size() && (static_cast<uint8_t>(spelled[end]) & 0xC0) == 0x80) continue;
      id = TokenToId(std::string_view(spelled).substr(start, end - start));
      if (id != -1) break;
    }
    if (id == -1) spelled_out = false;
    if (id != -1) ids->push_back(id);
    start = end;
  }
  if (!spelled_out) {
    ids->resize(first);
    ids->push_back(unk());
  }
}

}  // namespace

std::vector<std::string> BertBasicSplit(std::string_view text) {
  const std::string normalized = unicode::ToLower(StripAccents(CleanText(text)));
  std::vector<std::string> words;
  std::string word;
  auto finish_word = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  ForEachChar(normalized, [&](char32_t cp, size_t pos, size_t length) {
    if (IsBertWhitespace(cp)) {
      finish_word();
    } else if (IsBertPunctuation(cp)) {
      finish_word();
      words.emplace_back(normalized.substr(pos, length));
    } else {
      word.append(normalized, pos, length);
    }
  });
  finish_word();
  return words;
}

Result<std::unique_ptr<Tokenizer>> CreateWordPieceTokenizer(Vocab vocab) {
  auto tokenizer = std::make_unique<WordPieceTokenizer>(std::move(vocab));
  PLEXUS_RETURN_IF_ERROR(tokenizer->Init());
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

}  // namespace plexus
