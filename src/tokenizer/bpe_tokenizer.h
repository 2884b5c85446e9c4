// Byte-level BPE ("gpt2" in GGUF): the tokenizer of GPT-2, Llama 3, Qwen 2/3,
// DeepSeek, Falcon, MPT, StarCoder and most models converted from a Hugging
// Face tokenizer.json.
#pragma once

#include <memory>

#include "base/status.h"
#include "tokenizer/tokenizer.h"

namespace plexus {

// `vocab` has passed ValidateVocab. Fails when `vocab.pre` names no known
// pre-tokenizer (the error lists the known ones) or a merge rule names a
// token the vocabulary lacks (the error names the merge's index).
Result<std::unique_ptr<Tokenizer>> CreateBpeTokenizer(Vocab vocab);

}  // namespace plexus
