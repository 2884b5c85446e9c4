// StreamDecoder: generated ids -> text that can be sent as it comes.
//
// A byte-fallback token carries one byte, so a character such as "é" (C3 A9)
// or an emoji may arrive over several ids. Sending each piece as it comes
// would split characters; this holds back an incomplete UTF-8 character at
// the end until the ids that complete it arrive.
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace plexus {

class StreamDecoder {
 public:
  // `at_sequence_start`: as DecodeOptions: true when these ids begin the text
  // (their first piece loses the encoder's space), false when they continue a
  // prompt. The tokenizer must outlive the decoder.
  explicit StreamDecoder(const Tokenizer& tokenizer, bool at_sequence_start = false)
      : tokenizer_(tokenizer), at_sequence_start_(at_sequence_start) {}

  // The text that `id` completes; empty while a character is incomplete.
  std::string Push(int32_t id);
  // At the end of the stream: what was held back (the bytes of a character
  // that never completed), so that no byte is lost.
  std::string Flush();

 private:
  const Tokenizer& tokenizer_;
  bool at_sequence_start_;
  std::string pending_;  // decoded bytes not yet returned
};

}  // namespace plexus
