// A forward batch: any mix of sequences and positions (prefill chunks and
// decode steps of different requests) runs as one matrix-matrix pass.
#pragma once

#include <cstdint>

namespace plexus {

struct BatchEntry {
  int32_t seq = 0;           // which sequence (KV cache) this token belongs to
  int32_t pos = 0;           // its position in that sequence
  int32_t token = 0;         // input token id
  bool want_logits = false;  // produce logits for this entry (last stage only)
};

}  // namespace plexus
