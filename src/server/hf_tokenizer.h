// Hugging Face tokenizer.json (and the tokenizer_config.json beside it) ->
// Vocab, the same Vocab that llama.cpp's converter writes into a GGUF:
//   - tokens in id order: model.vocab plus added_tokens; an id that neither
//     names becomes "[PAD<id>]", an unused token;
//   - types: normal; control for special added tokens (and added tokens that
//     look special, "<|...|>"); user-defined for other added tokens;
//   - merges as "a b" strings, rank = index;
//   - model "gpt2" (byte-level BPE), and `pre` found by matching the
//     pre_tokenizer's regexes against the pre-tokenizer table (Llama 3's
//     regex is "llama-bpe", Qwen's "qwen2", ByteLevel's own GPT-2 regex
//     "gpt-2");
//   - bos/eos/pad/unk, add_bos_token/add_eos_token and chat_template from
//     tokenizer_config.json; end-of-turn tokens by their text.
// Only byte-level BPE is converted. The files are untrusted: every field is
// type-checked and an error names it, e.g.
// "[hf_tokenizer] tokenizer.json: model.merges[12] names 'xy', which is not a token".
// JSON lives in server/ only, which is why this is here and not in tokenizer/.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "tokenizer/vocab.h"

namespace plexus {

// `tokenizer_config_json` may be empty (no such file).
Result<Vocab> VocabFromHfJson(std::string_view tokenizer_json, std::string_view tokenizer_config_json);

// Reads `tokenizer_json_path` and, when it exists, tokenizer_config.json in
// the same folder.
Result<Vocab> LoadHfTokenizer(const std::string& tokenizer_json_path);

// `plexus vocab`: LoadHfTokenizer, then WriteVocabGguf to `gguf_path`.
Result<Vocab> ConvertHfTokenizerToGguf(const std::string& tokenizer_json_path,
                                       const std::string& gguf_path);

}  // namespace plexus
