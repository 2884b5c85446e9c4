// PreTokenizer: the spec's regexes compiled with PCRE2 (UTF + UCP, JIT when
// available) and applied in sequence.
#include "tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>

#include "tokenizer/unicode_text.h"

namespace plexus {
namespace {

constexpr std::string_view kTag = "tokenizer";
// Backtracking over a long run of spaces (\s+(?!\S)) needs more than PCRE2's
// default 32 KiB JIT stack; the stack grows on demand up to this.
constexpr size_t kJitStackMaxBytes = 16 << 20;

std::string Pcre2Message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

class PreTokenizer::Regex {
 public:
  explicit Regex(pcre2_code* code) : code_(code) {}
  ~Regex() { pcre2_code_free(code_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Cuts `piece` into matches and the gaps between them, appended in order.
  void SplitPiece(std::string_view piece, pcre2_match_data* match, pcre2_match_context* context,
                  std::vector<std::string_view>* out) const {
    size_t last = 0;  // end of what has been emitted
    size_t offset = 0;
    while (offset < piece.size()) {
      int rc = Match(piece, offset, 0, match, context);
      // A JIT failure (stack) is retried by the interpreter; any other error
      // leaves the rest of the piece whole, which is still a valid split.
      if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) rc = Match(piece, offset, PCRE2_NO_JIT, match, context);
      if (rc < 0) break;
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
      const size_t start = ovector[0];
      const size_t end = ovector[1];
      if (end == start) {  // an empty match: step over one character
        if (start >= piece.size()) break;
        offset = start + std::max<size_t>(1, unicode::ValidUtf8Length(piece, start));
        continue;
      }
      if (start > last) out->push_back(piece.substr(last, start - last));
      out->push_back(piece.substr(start, end - start));
      last = offset = end;
    }
    if (last < piece.size()) out->push_back(piece.substr(last));
  }

 private:
  int Match(std::string_view piece, size_t offset, uint32_t options, pcre2_match_data* match,
            pcre2_match_context* context) const {
    // The text was checked to be well-formed UTF-8 before pre-tokenization.
    return pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(piece.data()), piece.size(), offset,
                       options | PCRE2_NO_UTF_CHECK, match, context);
  }

  pcre2_code* code_;
};

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::Create(const PreTokenizerSpec& spec) {
  std::unique_ptr<PreTokenizer> pre(new PreTokenizer());
  for (std::string_view pattern : spec.regexes) {
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP, &error, &error_offset, nullptr);
    if (code == nullptr) {
      return Status::Errorf(kTag, "pre-tokenizer '{}': regex /{}/ does not compile at offset {}: {}",
                            spec.names.front(), pattern, error_offset, Pcre2Message(error));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional: without JIT it interprets
    pre->regexes_.push_back(std::make_unique<Regex>(code));
  }
  return pre;
}

PreTokenizer::~PreTokenizer() = default;

void PreTokenizer::Split(std::string_view text, std::vector<std::string_view>* pieces) const {
  if (text.empty()) return;
  pcre2_match_data* match = pcre2_match_data_create(1, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 << 10, kJitStackMaxBytes, nullptr);
  PLEXUS_CHECK(match != nullptr && context != nullptr, "PCRE2 out of memory");
  if (stack != nullptr) pcre2_jit_stack_assign(context, nullptr, stack);

  std::vector<std::string_view> current = {text};
  std::vector<std::string_view> next;
  for (const std::unique_ptr<Regex>& regex : regexes_) {
    next.clear();
    for (std::string_view piece : current) regex->SplitPiece(piece, match, context, &next);
    current.swap(next);
  }
  pieces->insert(pieces->end(), current.begin(), current.end());

  pcre2_jit_stack_free(stack);
  pcre2_match_context_free(context);
  pcre2_match_data_free(match);
}

}  // namespace plexus
