#include "engine/stop.h"

#include <algorithm>

namespace plexus {

Status ValidateStopStrings(const std::vector<std::string>& stops) {
  for (size_t i = 0; i < stops.size(); ++i)
    if (stops[i].empty()) return Status::Errorf("engine", "stop string {} is empty", i);
  return Status::Ok();
}

std::string StopMatcher::Push(std::string_view text) {
  if (stopped_) return {};
  pending_.append(text);
  // The stop string that completes first in the text (the one a byte-by-byte
  // stream would have seen first); on a shared end byte, the longest.
  size_t best_start = std::string::npos, best_end = std::string::npos;
  for (const std::string& stop : stops_) {
    const size_t start = pending_.find(stop);
    if (start == std::string::npos) continue;
    const size_t end = start + stop.size();
    if (end < best_end || (end == best_end && start < best_start)) {
      best_start = start;
      best_end = end;
      matched_ = stop;
    }
  }
  std::string ready;
  if (best_start != std::string::npos) {
    stopped_ = true;
    ready = pending_.substr(0, best_start);
    pending_.clear();
    return ready;
  }
  const size_t ready_length = pending_.size() - HeldBackLength();
  ready = pending_.substr(0, ready_length);
  pending_.erase(0, ready_length);
  return ready;
}

size_t StopMatcher::HeldBackLength() const {
  const std::string_view pending = pending_;
  size_t longest = 0;
  for (const std::string& stop : stops_) {
    for (size_t n = std::min(stop.size() - 1, pending.size()); n > longest; --n) {
      if (pending.ends_with(std::string_view(stop).substr(0, n))) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}

std::string StopMatcher::Flush() {
  std::string rest;
  rest.swap(pending_);
  return rest;
}

bool StopStream::Push(std::string_view piece) {
  if (matcher_.stopped()) return true;
  Emit(matcher_.Push(utf8_.Push(piece)));
  return matcher_.stopped();
}

void StopStream::Finish() {
  if (matcher_.stopped()) return;
  Emit(matcher_.Push(utf8_.Flush()));
  if (!matcher_.stopped()) Emit(matcher_.Flush());
}

void StopStream::Emit(const std::string& text) {
  if (text.empty()) return;
  text_ += text;
  if (on_text_) on_text_(text);
}

}  // namespace plexus
