// Stop strings, and the text stream that applies them to generated pieces.
//
// A stop string can span token boundaries ("little girl" may arrive as
// " little", " g", "irl"), so text that could still become the start of a stop
// string is held back until the next pieces resolve it. When a stop string
// completes, nothing of it and nothing after it is emitted.
//
//   pieces -> Utf8Stream (whole characters) -> StopMatcher -> caller
//
// Usage:
//   StopStream stream(stops, on_text);
//   for (...) if (stream.Push(tokenizer.TokenToPiece(id))) break;  // stop string hit
//   stream.Finish();      // end of generation: emit what was held back
//   stream.text();        // everything emitted
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/utf8_stream.h"

namespace plexus {

// Stop strings must be non-empty; the error names the bad one's index.
Status ValidateStopStrings(const std::vector<std::string>& stops);

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  // Appends text; returns what is now safe to emit. Once a stop string
  // completes, stopped() is true, the returned text ends right before it, and
  // later pushes return nothing.
  std::string Push(std::string_view text);
  // The text held back as a possible stop-string start (none once stopped).
  std::string Flush();

  bool stopped() const { return stopped_; }
  // The stop string that matched (the earliest in the text; the longest one
  // of those starting there); empty when none did.
  const std::string& matched() const { return matched_; }

 private:
  // Length of the longest suffix of pending_ that is a proper prefix of a stop string.
  size_t HeldBackLength() const;

  std::vector<std::string> stops_;
  std::string pending_;  // held back: could be the start of a stop string
  bool stopped_ = false;
  std::string matched_;
};

// UTF-8-safe streaming with stop strings: pieces in, whole characters out to
// `on_text` (may be null), none of a stop string.
class StopStream {
 public:
  StopStream(std::vector<std::string> stops, std::function<void(std::string_view)> on_text)
      : matcher_(std::move(stops)), on_text_(std::move(on_text)) {}

  // Returns true when a stop string completed: generation should end.
  bool Push(std::string_view piece);
  // End of generation (EOG, length, or a stop): emits whatever was held back.
  void Finish();

  const std::string& text() const { return text_; }
  bool stopped() const { return matcher_.stopped(); }
  const std::string& matched() const { return matcher_.matched(); }

 private:
  void Emit(const std::string& text);

  Utf8Stream utf8_;
  StopMatcher matcher_;
  std::function<void(std::string_view)> on_text_;
  std::string text_;  // everything emitted
};

}  // namespace plexus
