#include "server/hf_tokenizer.h"

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <unordered_map>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "tokenizer/pre_tokenizer.h"

namespace plexus {
namespace {

using json = nlohmann::json;
constexpr std::string_view kTag = "hf_tokenizer";
constexpr std::string_view kJsonFile = "tokenizer.json";
constexpr std::string_view kConfigFile = "tokenizer_config.json";
// Real vocabularies have up to a few hundred thousand tokens; a larger id
// is a broken or hostile file, not a reason to allocate gigabytes.
constexpr int64_t kMaxTokens = int64_t{1} << 21;

template <typename... Args>
Status FileError(std::string_view file, fmt::format_string<Args...> f, Args&&... args) {
  return Status::Errorf(kTag, "{}: {}", file, fmt::format(f, std::forward<Args>(args)...));
}

Result<json> ParseJson(std::string_view text, std::string_view file) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return FileError(file, "not valid JSON");
  if (!j.is_object()) return FileError(file, "the top level is not an object");
  return j;
}

// Added tokens that llama.cpp's converter makes control tokens even when the
// file does not mark them special.
bool LooksSpecial(std::string_view text) {
  const bool bars = text.starts_with("<|") && text.ends_with("|>");
  const bool wide_bars = text.starts_with("<\xEF\xBD\x9C") && text.ends_with("\xEF\xBD\x9C>");  // <｜ ｜>
  return bars || wide_bars;
}

// Tokens by id as the file gives them; the holes are filled at the end.
class TokenTable {
 public:
  Status Put(int64_t id, const std::string& text, TokenType type, const std::string& field) {
    if (id < 0 || id >= kMaxTokens) {
      return FileError(kJsonFile, "{}: id {} is out of range (0..{})", field, id, kMaxTokens - 1);
    }
    if (size_t(id) >= tokens_.size()) {
      tokens_.resize(id + 1);
      types_.resize(id + 1, static_cast<int32_t>(TokenType::kUnused));
      set_.resize(id + 1, false);
    }
    if (set_[id] && tokens_[id] != text) {
      return FileError(kJsonFile, "{}: id {} is both '{}' and '{}'", field, id, tokens_[id], text);
    }
    tokens_[id] = text;
    types_[id] = static_cast<int32_t>(type);
    set_[id] = true;
    return Status::Ok();
  }

  void MoveTo(Vocab* vocab) {
    for (size_t id = 0; id < tokens_.size(); ++id) {
      if (!set_[id]) tokens_[id] = fmt::format("[PAD{}]", id);
    }
    vocab->tokens = std::move(tokens_);
    vocab->types = std::move(types_);
  }

 private:
  std::vector<std::string> tokens_;
  std::vector<int32_t> types_;
  std::vector<bool> set_;
};

Status ReadTokens(const json& root, Vocab* vocab) {
  const auto model = root.find("model");
  if (model == root.end() || !model->is_object()) return FileError(kJsonFile, "model is missing");
  const auto type = model->find("type");
  if (type == model->end() || !type->is_string() || type->get<std::string>() != "BPE") {
    return FileError(kJsonFile, "model.type is {}; only byte-level BPE is supported",
                     type == model->end() ? "missing" : type->dump());
  }
  const auto pieces = model->find("vocab");
  if (pieces == model->end() || !pieces->is_object()) {
    return FileError(kJsonFile, "model.vocab is missing or not an object");
  }
  TokenTable table;
  for (const auto& [text, id] : pieces->items()) {
    const std::string field = fmt::format("model.vocab['{}']", text);
    if (!id.is_number_integer()) return FileError(kJsonFile, "{} is not an integer id", field);
    PLEXUS_RETURN_IF_ERROR(table.Put(id.get<int64_t>(), text, TokenType::kNormal, field));
  }
  const auto added = root.find("added_tokens");
  if (added != root.end() && !added->is_array()) {
    return FileError(kJsonFile, "added_tokens is not an array");
  }
  for (size_t i = 0; added != root.end() && i < added->size(); ++i) {
    const json& token = (*added)[i];
    const std::string field = fmt::format("added_tokens[{}]", i);
    if (!token.is_object() || !token.contains("id") || !token["id"].is_number_integer() ||
        !token.contains("content") || !token["content"].is_string()) {
      return FileError(kJsonFile, "{} needs an integer id and a string content", field);
    }
    const std::string content = token["content"].get<std::string>();
    const bool special = token.value("special", false) || LooksSpecial(content);
    PLEXUS_RETURN_IF_ERROR(table.Put(token["id"].get<int64_t>(), content,
                                     special ? TokenType::kControl : TokenType::kUserDefined,
                                     field));
  }
  table.MoveTo(vocab);
  if (vocab->tokens.empty()) return FileError(kJsonFile, "model.vocab is empty");
  return Status::Ok();
}

// One merge rule as "a b": the old format is that string, the new one [a, b].
Result<std::string> MergeText(const json& merge, const std::string& field) {
  if (merge.is_string()) return merge.get<std::string>();
  if (!merge.is_array() || merge.size() != 2 || !merge[0].is_string() || !merge[1].is_string()) {
    return FileError(kJsonFile, "{} is neither \"a b\" nor [\"a\", \"b\"]", field);
  }
  const std::string left = merge[0].get<std::string>();
  const std::string right = merge[1].get<std::string>();
  if (left.find(' ') != std::string::npos || right.find(' ') != std::string::npos) {
    return FileError(kJsonFile, "{} has a token with a space, which \"a b\" cannot hold", field);
  }
  return left + " " + right;
}

Status ReadMerges(const json& model, Vocab* vocab) {
  const auto merges = model.find("merges");
  if (merges == model.end() || !merges->is_array()) {
    return FileError(kJsonFile, "model.merges is missing or not an array");
  }
  std::unordered_map<std::string_view, int32_t> ids;
  for (size_t id = 0; id < vocab->tokens.size(); ++id) ids.emplace(vocab->tokens[id], int32_t(id));
  vocab->merges.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    const std::string field = fmt::format("model.merges[{}]", i);
    PLEXUS_ASSIGN_OR_RETURN(std::string rule, MergeText((*merges)[i], field));
    const size_t space = rule.find(' ');
    if (space == std::string::npos || rule.find(' ', space + 1) != std::string::npos) {
      return FileError(kJsonFile, "{} = '{}' is not two tokens separated by one space", field, rule);
    }
    const std::string left = rule.substr(0, space);
    const std::string right = rule.substr(space + 1);
    for (const std::string& part : {left, right, left + right}) {
      if (!ids.contains(part)) {
        return FileError(kJsonFile, "{} = '{}' names '{}', which is not a token", field, rule, part);
      }
    }
    vocab->merges.push_back(std::move(rule));
  }
  return Status::Ok();
}

// The regexes a pre_tokenizer applies, in order; `byte_level` is set when a
// ByteLevel step is among them.
Status CollectRegexes(const json& node, const std::string& path, std::vector<std::string>* regexes,
                      bool* byte_level) {
  const std::string type = node.is_object() ? node.value("type", "") : "";
  if (type == "Sequence" && node.contains("pretokenizers") && node["pretokenizers"].is_array()) {
    const json& steps = node["pretokenizers"];
    for (size_t i = 0; i < steps.size(); ++i) {
      PLEXUS_RETURN_IF_ERROR(CollectRegexes(steps[i], fmt::format("{}.pretokenizers[{}]", path, i),
                                            regexes, byte_level));
    }
    return Status::Ok();
  }
  if (type == "ByteLevel") {
    *byte_level = true;
    if (node.value("use_regex", true)) regexes->emplace_back(Gpt2Regex());
    return Status::Ok();
  }
  if (type == "Split") {
    const json pattern = node.value("pattern", json());
    const bool isolated = node.value("behavior", "") == "Isolated" && !node.value("invert", false);
    if (!pattern.is_object() || !pattern.contains("Regex") || !pattern["Regex"].is_string() ||
        !isolated) {
      return FileError(kJsonFile, "{}: only Split with a Regex pattern and behavior Isolated is supported",
                       path);
    }
    regexes->push_back(pattern["Regex"].get<std::string>());
    return Status::Ok();
  }
  return FileError(kJsonFile, "{}: pre-tokenizer type '{}' is not supported (Sequence, Split, ByteLevel)",
                   path, type);
}

Status DetectPre(const json& root, Vocab* vocab, bool* ignore_merges) {
  const auto pre = root.find("pre_tokenizer");
  if (pre == root.end() || pre->is_null()) return FileError(kJsonFile, "pre_tokenizer is missing");
  std::vector<std::string> regexes;
  bool byte_level = false;
  PLEXUS_RETURN_IF_ERROR(CollectRegexes(*pre, "pre_tokenizer", &regexes, &byte_level));
  if (!byte_level) {
    return FileError(kJsonFile, "pre_tokenizer has no ByteLevel step: not a byte-level BPE");
  }
  const PreTokenizerSpec* spec = FindPreTokenizerByRegexes(regexes);
  if (spec == nullptr) {
    return FileError(kJsonFile, "pre_tokenizer regexes [{}] match no known pre-tokenizer ({})",
                     fmt::join(regexes, ", "), PreTokenizerNames());
  }
  vocab->model = "gpt2";
  vocab->pre = std::string(spec->names.front());
  *ignore_merges = spec->ignore_merges;
  return Status::Ok();
}

// A special token in tokenizer_config.json: "text", {"content": "text"} or null.
Result<int32_t> ConfigTokenId(const json& config, const char* key, const Vocab& vocab) {
  const auto value = config.find(key);
  if (value == config.end() || value->is_null()) return int32_t{-1};
  std::string text;
  if (value->is_string()) {
    text = value->get<std::string>();
  } else if (value->is_object() && value->contains("content") && (*value)["content"].is_string()) {
    text = (*value)["content"].get<std::string>();
  } else {
    return FileError(kConfigFile, "{} is neither a string nor {{\"content\": ...}}", key);
  }
  for (size_t id = 0; id < vocab.tokens.size(); ++id) {
    if (vocab.tokens[id] == text) return int32_t(id);
  }
  return FileError(kConfigFile, "{} '{}' is not a token", key, text);
}

Result<std::optional<bool>> ConfigFlag(const json& config, const char* key) {
  const auto value = config.find(key);
  if (value == config.end() || value->is_null()) return std::optional<bool>();
  if (!value->is_boolean()) return FileError(kConfigFile, "{} is not a boolean", key);
  return std::optional<bool>(value->get<bool>());
}

// A single template, or a list of {name, template}: "default", else the first.
Result<std::string> ConfigChatTemplate(const json& config) {
  const auto value = config.find("chat_template");
  if (value == config.end() || value->is_null()) return std::string();
  if (value->is_string()) return value->get<std::string>();
  if (value->is_array()) {
    std::string chosen;
    for (const json& entry : *value) {
      if (!entry.is_object() || !entry.contains("template") || !entry["template"].is_string()) {
        return FileError(kConfigFile, "chat_template entries need a string template");
      }
      if (chosen.empty() || entry.value("name", "") == "default") {
        chosen = entry["template"].get<std::string>();
      }
    }
    return chosen;
  }
  return FileError(kConfigFile, "chat_template is neither a string nor a list");
}

Status ReadConfig(const json& config, bool llama3, Vocab* vocab) {
  PLEXUS_ASSIGN_OR_RETURN(vocab->bos, ConfigTokenId(config, "bos_token", *vocab));
  PLEXUS_ASSIGN_OR_RETURN(vocab->eos, ConfigTokenId(config, "eos_token", *vocab));
  PLEXUS_ASSIGN_OR_RETURN(vocab->unk, ConfigTokenId(config, "unk_token", *vocab));
  PLEXUS_ASSIGN_OR_RETURN(vocab->pad, ConfigTokenId(config, "pad_token", *vocab));
  PLEXUS_ASSIGN_OR_RETURN(std::optional<bool> add_bos, ConfigFlag(config, "add_bos_token"));
  PLEXUS_ASSIGN_OR_RETURN(std::optional<bool> add_eos, ConfigFlag(config, "add_eos_token"));
  // Llama 3 prepends <|begin_of_text|> without saying so in its config
  // (llama.cpp turns add_bos on for that pre-tokenizer).
  vocab->add_bos = add_bos.value_or(llama3) && vocab->bos != -1;
  vocab->add_eos = add_eos.value_or(false) && vocab->eos != -1;
  PLEXUS_ASSIGN_OR_RETURN(vocab->chat_template, ConfigChatTemplate(config));
  return Status::Ok();
}

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Errorf(kTag, "cannot open {}", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Result<Vocab> VocabFromHfJson(std::string_view tokenizer_json, std::string_view tokenizer_config_json) {
  PLEXUS_ASSIGN_OR_RETURN(const json root, ParseJson(tokenizer_json, kJsonFile));
  Vocab vocab;
  PLEXUS_RETURN_IF_ERROR(ReadTokens(root, &vocab));
  bool ignore_merges = false;
  PLEXUS_RETURN_IF_ERROR(DetectPre(root, &vocab, &ignore_merges));
  const json& model = root["model"];
  if (model.value("ignore_merges", false) != ignore_merges) {
    return FileError(kJsonFile, "model.ignore_merges is {} but pre-tokenizer '{}' has it {}",
                     model.value("ignore_merges", false), vocab.pre, ignore_merges);
  }
  PLEXUS_RETURN_IF_ERROR(ReadMerges(model, &vocab));
  json config = json::object();
  if (!tokenizer_config_json.empty()) {
    PLEXUS_ASSIGN_OR_RETURN(config, ParseJson(tokenizer_config_json, kConfigFile));
  }
  PLEXUS_RETURN_IF_ERROR(ReadConfig(config, vocab.pre == "llama-bpe", &vocab));
  DetectEndOfTurn(&vocab);
  PLEXUS_RETURN_IF_ERROR(ValidateVocab(vocab));
  return vocab;
}

Result<Vocab> LoadHfTokenizer(const std::string& tokenizer_json_path) {
  PLEXUS_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(tokenizer_json_path));
  const std::filesystem::path config_path =
      std::filesystem::path(tokenizer_json_path).parent_path() / std::string(kConfigFile);
  std::string config;
  if (std::filesystem::exists(config_path)) {
    PLEXUS_ASSIGN_OR_RETURN(config, ReadWholeFile(config_path.string()));
  }
  Result<Vocab> vocab = VocabFromHfJson(text, config);
  if (!vocab.ok()) return vocab.status().WithContext(tokenizer_json_path);
  return vocab;
}

Result<Vocab> ConvertHfTokenizerToGguf(const std::string& tokenizer_json_path,
                                       const std::string& gguf_path) {
  PLEXUS_ASSIGN_OR_RETURN(Vocab vocab, LoadHfTokenizer(tokenizer_json_path));
  PLEXUS_RETURN_IF_ERROR(WriteVocabGguf(vocab, gguf_path));
  return vocab;
}

}  // namespace plexus
