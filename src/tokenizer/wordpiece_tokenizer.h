// WordPiece ("bert" in GGUF): the tokenizer of BERT and the embedding models
// built on it (bge, MiniLM, nomic-bert).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "tokenizer/tokenizer.h"

namespace plexus {

// `vocab` has passed ValidateVocab. Fails without an unknown token, which
// WordPiece needs for words it cannot spell.
Result<std::unique_ptr<Tokenizer>> CreateWordPieceTokenizer(Vocab vocab);

// BERT's basic tokenization: clean the text (drop NUL, U+FFFD and other
// control characters; whitespace becomes a space), put spaces around CJK
// ideographs, strip accents (NFD, then drop nonspacing marks), lowercase;
// then split on whitespace and make each punctuation character (ASCII
// punctuation or Unicode P*) a word of its own. Exposed for tests.
std::vector<std::string> BertBasicSplit(std::string_view text);

}  // namespace plexus
