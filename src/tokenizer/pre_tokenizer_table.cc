// The pre-tokenizers by name: `tokenizer.ggml.pre` -> the regexes to apply in
// sequence. The regexes are those published in each model's tokenizer.json
// (a Sequence of Split pre-tokenizers, or ByteLevel with use_regex, which is
// GPT-2's regex) and in llama.cpp's description of each pre-tokenizer type.
// Adding a model's pre-tokenizer means adding a row here.
#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tokenizer/pre_tokenizer.h"

namespace plexus {
namespace {

// GPT-2 (tiktoken r50k): contractions, letters, digits, other symbols, each
// optionally after one space; runs of spaces keep their last one for the next
// word ("\s+(?!\S)").
constexpr std::string_view kGpt2 =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re";

// Llama 3 (tiktoken cl100k): case-insensitive contractions, digits in groups
// of up to three, newlines kept apart from other whitespace.
constexpr std::string_view kLlama3 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// Qwen 2/2.5/3: Llama 3's regex with single digits.
constexpr std::string_view kQwen2 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// DeepSeek LLM / Coder: newlines alone, then letters (a listed set of
// alphabetic ranges for LLM), punctuation, CJK and Hangul runs, digits.
// Six range ends are written as \x{...}: they are characters that NFC maps
// to others (U+1F7D, U+1FBE, U+1FD3, U+1FDB, U+2126 Ohm, U+212A Kelvin), and
// an editor that normalizes would silently break the ranges.
constexpr std::string_view kDeepseekLetters =
    R"re(\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\x{1F7D}ᾀ-ᾴᾶ-ᾼ\x{1FBE}ῂ-ῄῆ-ῌῐ-\x{1FD3}ῖ-\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\x{2126}ℨ\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+)re";
constexpr std::string_view kDeepseekPunct = R"re(\s?[!-/:-~！-／：-～‘-‟　-。]+)re";
constexpr std::string_view kDeepseekCjk = R"re([一-龥ࠀ-一가-퟿]+)re";

// DeepSeek V3/R1: digits in threes, CJK and kana runs, then a cl100k-like
// regex in which marks join letters.
constexpr std::string_view kDeepseekV3 =
    R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

const std::vector<PreTokenizerSpec>& Table() {
  static const std::vector<PreTokenizerSpec> table = {
      {{"default"},
       {R"re([\p{P}\$\+<=>\^~\|]+)re", kGpt2, R"re(\p{N}+)re", R"re([0-9][0-9][0-9])re"}},
      {{"gpt-2", "gpt2"}, {kGpt2}},
      {{"mpt"}, {kGpt2}},
      {{"gpt-neox", "olmo"}, {kGpt2}},
      {{"starcoder", "refact", "command-r", "smollm"}, {R"re(\p{N})re", kGpt2}},
      {{"falcon"}, {R"re([\p{P}\$\+<=>\^~\|`]+)re", kGpt2, R"re([0-9][0-9][0-9])re"}},
      {{"llama-bpe", "llama3", "llama-v3"}, {kLlama3}, /*ignore_merges=*/true},
      {{"qwen2", "deepseek-r1-qwen"}, {kQwen2}, /*ignore_merges=*/false, /*nfc=*/true},
      {{"deepseek-llm"},
       {R"re([\r\n])re", kDeepseekLetters, kDeepseekPunct, R"re(\s+$)re", kDeepseekCjk,
        R"re(\p{N}+)re"}},
      {{"deepseek-coder"},
       {R"re([\r\n])re", R"re(\s?\p{L}+)re", R"re(\s?\p{P}+)re", kDeepseekCjk, R"re(\p{N})re"}},
      {{"deepseek-v3"}, {R"re(\p{N}{1,3})re", R"re([一-龥぀-ゟ゠-ヿ]+)re", kDeepseekV3}},
  };
  return table;
}

}  // namespace

const PreTokenizerSpec* FindPreTokenizer(std::string_view name) {
  if (name.empty()) name = "default";
  for (const PreTokenizerSpec& spec : Table()) {
    for (std::string_view n : spec.names) {
      if (n == name) return &spec;
    }
  }
  return nullptr;
}

const PreTokenizerSpec* FindPreTokenizerByRegexes(std::span<const std::string> regexes) {
  for (const PreTokenizerSpec& spec : Table()) {
    if (std::equal(spec.regexes.begin(), spec.regexes.end(), regexes.begin(), regexes.end())) {
      return &spec;
    }
  }
  return nullptr;
}

std::string PreTokenizerNames() {
  std::vector<std::string_view> names;
  for (const PreTokenizerSpec& spec : Table()) names.insert(names.end(), spec.names.begin(), spec.names.end());
  return fmt::format("{}", fmt::join(names, ", "));
}

std::string_view Gpt2Regex() { return kGpt2; }

}  // namespace plexus
