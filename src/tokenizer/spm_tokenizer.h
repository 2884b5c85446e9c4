// SentencePiece BPE ("llama" in GGUF): the tokenizer of Llama 1/2, Mistral
// v0.1, TinyLlama and the tinyllamas "stories" models.
#pragma once

#include <memory>

#include "base/status.h"
#include "tokenizer/tokenizer.h"

namespace plexus {

// `vocab` has passed ValidateVocab. Fails when a byte can be neither
// byte-fallback encoded ("<0xAB>" token) nor mapped to the unknown token.
Result<std::unique_ptr<Tokenizer>> CreateSpmTokenizer(Vocab vocab);

}  // namespace plexus
