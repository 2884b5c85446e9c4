// LoadVocabFromGguf: tokenizer.ggml.* metadata -> Vocab, and WriteVocabGguf back.
//
// The file is untrusted: every array is checked for its element type and
// length, every id for its range, and each error names the key.
#include <cstdint>
#include <limits>
#include <utility>

#include "format/gguf.h"
#include "tokenizer/vocab.h"

namespace plexus {
namespace {

constexpr std::string_view kTag = "tokenizer";

bool IsIntType(GgufType t) {
  return t == GgufType::kI8 || t == GgufType::kI16 || t == GgufType::kI32 ||
         t == GgufType::kI64 || t == GgufType::kBool;
}
bool IsUintType(GgufType t) {
  return t == GgufType::kU8 || t == GgufType::kU16 || t == GgufType::kU32 ||
         t == GgufType::kU64;
}

// The array at `key`, or an error naming the key when it is not an array of
// the expected kind. Returns null (no error) when the key is absent.
Result<const GgufValue*> FindArray(const GgufFile& gguf, std::string_view key, bool required,
                                   std::string_view expected, bool (*elem_ok)(GgufType)) {
  const GgufValue* value = gguf.Find(key);
  if (value == nullptr) {
    if (required) return Status::Errorf(kTag, "missing required key {}", key);
    return static_cast<const GgufValue*>(nullptr);
  }
  if (value->type != GgufType::kArray || !elem_ok(value->elem_type)) {
    const char* found =
        value->type == GgufType::kArray ? GgufTypeName(value->elem_type) : GgufTypeName(value->type);
    return Status::Errorf(kTag, "{} must be an array of {}, found {}{}", key, expected,
                          value->type == GgufType::kArray ? "array of " : "", found);
  }
  return value;
}

Status ReadTokens(const GgufFile& gguf, Vocab* vocab) {
  PLEXUS_ASSIGN_OR_RETURN(const GgufValue* tokens,
                          FindArray(gguf, vocab_keys::kTokens, true, "strings",
                                    [](GgufType t) { return t == GgufType::kString; }));
  vocab->tokens = tokens->strings;
  PLEXUS_ASSIGN_OR_RETURN(const GgufValue* merges,
                          FindArray(gguf, vocab_keys::kMerges, false, "strings",
                                    [](GgufType t) { return t == GgufType::kString; }));
  if (merges != nullptr) vocab->merges = merges->strings;
  return Status::Ok();
}

Status ReadScoresAndTypes(const GgufFile& gguf, Vocab* vocab) {
  PLEXUS_ASSIGN_OR_RETURN(
      const GgufValue* scores,
      FindArray(gguf, vocab_keys::kScores, false, "floats",
                [](GgufType t) { return t == GgufType::kF32 || t == GgufType::kF64; }));
  if (scores != nullptr) vocab->scores.assign(scores->floats.begin(), scores->floats.end());

  PLEXUS_ASSIGN_OR_RETURN(
      const GgufValue* types,
      FindArray(gguf, vocab_keys::kTokenType, false, "integers",
                [](GgufType t) { return IsIntType(t) || IsUintType(t); }));
  if (types == nullptr) return Status::Ok();
  const bool is_signed = IsIntType(types->elem_type);
  const size_t n = is_signed ? types->ints.size() : types->uints.size();
  vocab->types.resize(n);
  for (size_t i = 0; i < n; ++i) {
    // Values that do not fit become -1, an invalid type that ValidateVocab
    // reports with its index.
    const bool fits = is_signed ? (types->ints[i] >= 0 && types->ints[i] <= INT32_MAX)
                                : types->uints[i] <= INT32_MAX;
    vocab->types[i] =
        fits ? static_cast<int32_t>(is_signed ? types->ints[i] : int64_t(types->uints[i])) : -1;
  }
  return Status::Ok();
}

// Reads a special token id. Converters write "none" as -1 or, in u32 keys,
// as 0xFFFFFFFF (stories260K's padding_token_id); both map to -1. When the
// key is absent, a default that does not fit this vocabulary becomes -1
// rather than an error about a key the file does not have.
Status ReadSpecialId(const GgufFile& gguf, std::string_view key, size_t n_tokens, int32_t* id) {
  if (gguf.Find(key) == nullptr) {
    if (*id >= 0 && static_cast<size_t>(*id) >= n_tokens) *id = -1;
    return Status::Ok();
  }
  PLEXUS_ASSIGN_OR_RETURN(int64_t value, gguf.GetInt(key));
  if (value == -1 || value == int64_t{std::numeric_limits<uint32_t>::max()}) {
    *id = -1;
    return Status::Ok();
  }
  if (value < 0 || value > std::numeric_limits<int32_t>::max()) {
    return Status::Errorf(kTag, "{} = {} is out of range", key, value);
  }
  *id = static_cast<int32_t>(value);
  return Status::Ok();
}

Status ReadFlags(const GgufFile& gguf, Vocab* vocab) {
  using namespace vocab_keys;
  const size_t n = vocab->tokens.size();
  // BERT files store [CLS]/[SEP] under their own keys; bos/eos keys win.
  PLEXUS_RETURN_IF_ERROR(ReadSpecialId(gguf, kCls, n, &vocab->bos));
  PLEXUS_RETURN_IF_ERROR(ReadSpecialId(gguf, kSep, n, &vocab->eos));
  PLEXUS_RETURN_IF_ERROR(ReadSpecialId(gguf, kBos, n, &vocab->bos));
  PLEXUS_RETURN_IF_ERROR(ReadSpecialId(gguf, kEos, n, &vocab->eos));
  PLEXUS_RETURN_IF_ERROR(ReadSpecialId(gguf, kUnk, n, &vocab->unk));
  PLEXUS_RETURN_IF_ERROR(ReadSpecialId(gguf, kPad, n, &vocab->pad));
  PLEXUS_RETURN_IF_ERROR(ReadSpecialId(gguf, kEot, n, &vocab->eot));
  PLEXUS_RETURN_IF_ERROR(ReadSpecialId(gguf, kEom, n, &vocab->eom));
  PLEXUS_ASSIGN_OR_RETURN(vocab->add_bos, gguf.GetBool(kAddBos, vocab->add_bos));
  PLEXUS_ASSIGN_OR_RETURN(vocab->add_eos, gguf.GetBool(kAddEos, vocab->add_eos));
  PLEXUS_ASSIGN_OR_RETURN(vocab->add_space_prefix,
                          gguf.GetBool(kAddSpacePrefix, vocab->add_space_prefix));
  return Status::Ok();
}

}  // namespace

Result<Vocab> LoadVocabFromGguf(const GgufFile& gguf) {
  if (gguf.Find(vocab_keys::kModel) == nullptr) {
    return Status::Errorf(kTag, "missing required key {}", vocab_keys::kModel);
  }
  PLEXUS_ASSIGN_OR_RETURN(std::string model, gguf.GetString(vocab_keys::kModel));
  Vocab vocab = DefaultVocab(std::move(model));
  PLEXUS_ASSIGN_OR_RETURN(vocab.pre, gguf.GetString(vocab_keys::kPre, ""));
  PLEXUS_RETURN_IF_ERROR(ReadTokens(gguf, &vocab));
  PLEXUS_RETURN_IF_ERROR(ReadScoresAndTypes(gguf, &vocab));
  PLEXUS_RETURN_IF_ERROR(ReadFlags(gguf, &vocab));
  PLEXUS_ASSIGN_OR_RETURN(vocab.chat_template, gguf.GetString(vocab_keys::kChatTemplate, ""));
  // A file that stores "no bos" and says nothing about add_bos must not
  // inherit a default add_bos; an explicit add_bos with no bos is an error
  // that ValidateVocab reports. The same for eos.
  if (vocab.bos == -1 && gguf.Find(vocab_keys::kAddBos) == nullptr) vocab.add_bos = false;
  if (vocab.eos == -1 && gguf.Find(vocab_keys::kAddEos) == nullptr) vocab.add_eos = false;
  PLEXUS_RETURN_IF_ERROR(ValidateVocab(vocab));
  if (vocab.eot == -1 || vocab.eom == -1) DetectEndOfTurn(&vocab);
  return vocab;
}

Status WriteVocabGguf(const Vocab& vocab, const std::string& path) {
  using namespace vocab_keys;
  PLEXUS_RETURN_IF_ERROR(ValidateVocab(vocab));
  GgufWriter w;
  w.SetString(std::string(kModel), vocab.model);
  if (!vocab.pre.empty()) w.SetString(std::string(kPre), vocab.pre);
  w.SetStringArray(std::string(kTokens), vocab.tokens);
  if (!vocab.scores.empty()) w.SetF32Array(std::string(kScores), vocab.scores);
  if (!vocab.types.empty()) w.SetI32Array(std::string(kTokenType), vocab.types);
  if (!vocab.merges.empty()) w.SetStringArray(std::string(kMerges), vocab.merges);
  // "None" is left out unless the loader would then fill in a default id;
  // 0xFFFFFFFF says "none" explicitly.
  const Vocab defaults = DefaultVocab(vocab.model);
  const std::pair<std::string_view, int32_t Vocab::*> ids[] = {
      {kBos, &Vocab::bos}, {kEos, &Vocab::eos}, {kUnk, &Vocab::unk},
      {kPad, &Vocab::pad}, {kEot, &Vocab::eot}, {kEom, &Vocab::eom}};
  for (const auto& [key, member] : ids) {
    const int32_t id = vocab.*member;
    if (id != -1 || defaults.*member != -1) w.SetU32(std::string(key), static_cast<uint32_t>(id));
  }
  w.SetBool(std::string(kAddBos), vocab.add_bos);
  w.SetBool(std::string(kAddEos), vocab.add_eos);
  w.SetBool(std::string(kAddSpacePrefix), vocab.add_space_prefix);
  if (!vocab.chat_template.empty()) w.SetString(std::string(kChatTemplate), vocab.chat_template);
  return w.WriteFile(path);
}

}  // namespace plexus
