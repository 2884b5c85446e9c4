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

// deepseek2 routing (c.gating kDeepSeekSoftmax / kDeepSeekSigmoid) of one
// token's router logits [E] into ids[k] and w[k]:
//   score = softmax(logits) or sigmoid(logits); sel = score + bias (bias: [E]
//   exp_probs_b or nullptr; it steers the choice only);
//   groups: E splits into n_expert_groups equal groups, ranked by the sum of
//   their two best `sel` (sigmoid, V3's noaux_tc) or their best (softmax, V2's
//   group-limited greedy); only the best n_expert_groups_used groups' experts
//   may be chosen (ties: the lower index);
//   ids = the k best `sel` among those; w = score[ids], renormalised to sum 1
//   when expert_weights_norm, times expert_weights_scale.
// scratch: [2E] floats.
void ExpertGroupRoute(const ModelConfig& c, const float* logits, const float* bias, int32_t* ids, float* w,
                      float* scratch);

}  // namespace plexus
