#include "tokenizer/stream_decoder.h"

#include <span>

namespace plexus {
namespace {

// Bytes at the end of `text` that start a UTF-8 character whose remaining
// bytes have not arrived yet; 0 when the text ends on a whole character (or
// on bytes that are not valid UTF-8, which waiting would never fix).
size_t IncompleteTail(const std::string& text) {
  const size_t n = text.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const uint8_t byte = static_cast<uint8_t>(text[n - back]);
    if ((byte & 0xC0) == 0x80) continue;  // continuation byte: look further back
    size_t needed = 0;
    if ((byte & 0xE0) == 0xC0) needed = 2;
    if ((byte & 0xF0) == 0xE0) needed = 3;
    if ((byte & 0xF8) == 0xF0) needed = 4;
    return needed > back ? back : 0;
  }
  return 0;
}

}  // namespace

std::string StreamDecoder::Push(int32_t id) {
  DecodeOptions options;
  options.at_sequence_start = at_sequence_start_;
  pending_ += tokenizer_.Decode(std::span<const int32_t>(&id, 1), options);
  // Only the first piece of text can lose a space; BOS and other control
  // tokens before it do not count.
  if (tokenizer_.IsValid(id) && !tokenizer_.IsControl(id)) at_sequence_start_ = false;

  const size_t hold = IncompleteTail(pending_);
  std::string ready = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return ready;
}

std::string StreamDecoder::Flush() {
  std::string rest;
  rest.swap(pending_);
  return rest;
}

}  // namespace plexus
