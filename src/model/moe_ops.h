// Routing of the mixture-of-experts FFN (LayerRun::MoeFfn in moe_ops.cc):
// which k of E experts a token goes to, and with what weights.
#pragma once

#include <cstdint>

#include "model/config.h"

namespace plexus {

// ids[k]: the k largest of logits[0, n), largest first; of equal logits the
// lower index ranks first. O(n k): E <= 256 and k <= 8 in practice.
void ExpertTopK(const float* logits, int64_t n, int64_t k, int32_t* ids);

// w[k]: the gate weights of the chosen ids (as ExpertTopK orders them).
// kTopKSoftmax (Mixtral): softmax over the k chosen logits.
// kSoftmaxTopK (qwen3moe): softmax over all n logits, the chosen ones kept,
// renormalised to sum 1 when `renormalise`.
void ExpertGateWeights(ExpertGating gating, bool renormalise, const float* logits, int64_t n, const int32_t* ids,
                       int64_t k, float* w);

}  // namespace plexus
