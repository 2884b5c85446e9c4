// The mixture-of-experts FFN block: a router picks k of E experts per token,
// each expert is a SwiGLU FFN of width f_e, and the block's output is the sum
// of the chosen experts' outputs weighted by their gates.
//
// Expert parallelism: this shard computes only the experts in
// shard.experts, and a token routed elsewhere gets nothing from it here; the
// expert group's all-reduce adds what the owners computed. Every rank routes
// every token itself (the router is replicated), so no routing decision
// travels on the wire. The expert group is the TP group under tpN, and all
// ranks of a pipeline stage under epN / tpAxepB (cluster/plan.h): attention
// is then replicated over the ep replicas (or split over each replica's TP
// group) and the block costs exactly one all-reduce, over the expert group.
// The shared experts' rows are split over that same group and their partial
// output joins proj before that reduce, so each row counts exactly once and
// every rank ends with the same bits (the all-reduce sums in rank order).
//
// Prefill: tokens are grouped by expert, so each expert's three matrices are
// read once per batch, as one MatMul over the rows routed to it.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/ops.h"
#include "model/layer_ops.h"
#include "model/moe_ops.h"

namespace plexus {

// Insertion into ids[0, count): a later index never passes an equal logit.
void ExpertTopK(const float* logits, int64_t n, int64_t k, int32_t* ids) {
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (count == k && !(logits[i] > logits[ids[k - 1]])) continue;
    int64_t at = std::min(count, k - 1);
    while (at > 0 && logits[i] > logits[ids[at - 1]]) {
      ids[at] = ids[at - 1];
      --at;
    }
    ids[at] = static_cast<int32_t>(i);
    count = std::min(count + 1, k);
  }
}

// Sums in double; ids[0] holds the largest logit, the softmax's shift.
void ExpertGateWeights(ExpertGating gating, bool renormalise, const float* logits, int64_t n, const int32_t* ids,
                       int64_t k, float* w) {
  const double top = logits[ids[0]];
  double chosen_sum = 0;
  for (int64_t j = 0; j < k; ++j) chosen_sum += std::exp(static_cast<double>(logits[ids[j]]) - top);
  double denom = chosen_sum;
  if (gating == ExpertGating::kSoftmaxTopK && !renormalise) {
    denom = 0;
    for (int64_t i = 0; i < n; ++i) denom += std::exp(static_cast<double>(logits[i]) - top);
  }
  for (int64_t j = 0; j < k; ++j)
    w[j] = static_cast<float>(std::exp(static_cast<double>(logits[ids[j]]) - top) / denom);
}

namespace {

// The score of group g: the sum of its two best values (sigmoid) or its best.
float GroupScore(const float* sel, int64_t size, bool top2) {
  float best = -INFINITY, second = -INFINITY;
  for (int64_t i = 0; i < size; ++i) {
    if (sel[i] > best) {
      second = best;
      best = sel[i];
    } else if (sel[i] > second) {
      second = sel[i];
    }
  }
  return top2 && size > 1 ? best + second : best;
}

}  // namespace

void ExpertGroupRoute(const ModelConfig& c, const float* logits, const float* bias, int32_t* ids, float* w,
                      float* scratch) {
  const int64_t n = c.n_experts, k = c.n_experts_used, groups = c.n_expert_groups, size = n / groups;
  const bool sigmoid = c.gating == ExpertGating::kDeepSeekSigmoid;
  float* score = scratch;     // [E]
  float* sel = scratch + n;   // [E]
  const float top = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double l = logits[i];
    score[i] = static_cast<float>(sigmoid ? 1.0 / (1.0 + std::exp(-l)) : std::exp(l - top));
    sum += score[i];
  }
  for (int64_t i = 0; i < n; ++i) {
    if (!sigmoid) score[i] = static_cast<float>(score[i] / sum);
    sel[i] = score[i] + (bias != nullptr ? bias[i] : 0.0f);
  }
  if (c.n_expert_groups_used < groups) {
    std::vector<float> group_score(static_cast<size_t>(groups));
    std::vector<int32_t> kept(static_cast<size_t>(c.n_expert_groups_used));
    for (int64_t g = 0; g < groups; ++g) group_score[g] = GroupScore(sel + g * size, size, sigmoid);
    ExpertTopK(group_score.data(), groups, c.n_expert_groups_used, kept.data());
    std::vector<bool> keep(static_cast<size_t>(groups), false);
    for (int32_t g : kept) keep[g] = true;
    for (int64_t i = 0; i < n; ++i)
      if (!keep[i / size]) sel[i] = -INFINITY;
  }
  ExpertTopK(sel, n, k, ids);
  double chosen = 0;
  for (int64_t j = 0; j < k; ++j) chosen += score[ids[j]];
  const double norm = c.expert_weights_norm ? chosen + 1e-20 : 1.0;
  for (int64_t j = 0; j < k; ++j) w[j] = static_cast<float>(score[ids[j]] / norm * c.expert_weights_scale);
}

void LayerRun::Route() {
  const int64_t n_experts = c_.n_experts, k = c_.n_experts_used;
  MatMul(w_.router, a_.xn, a_.router);  // [B, E]
  const bool deepseek = c_.gating == ExpertGating::kDeepSeekSoftmax || c_.gating == ExpertGating::kDeepSeekSigmoid;
  std::vector<float> scratch(deepseek ? static_cast<size_t>(2 * n_experts) : 0);
  const float* bias = w_.exp_bias.empty() ? nullptr : w_.exp_bias.data();
  for (size_t b = 0; b < batch_.size(); ++b) {
    const float* logits = a_.router.data() + b * n_experts;
    int32_t* ids = a_.chosen.data() + b * k;
    if (deepseek) {
      ExpertGroupRoute(c_, logits, bias, ids, a_.chosen_w.data() + b * k, scratch.data());
      continue;
    }
    ExpertTopK(logits, n_experts, k, ids);
    ExpertGateWeights(c_.gating, c_.expert_weights_norm, logits, n_experts, ids, k, a_.chosen_w.data() + b * k);
  }
}

// Every token runs the shared experts; this rank holds rows shard.shexp of
// their gate/up ([B, local rows]) and the matching down columns, so its
// output is a partial sum that the block's all-reduce completes.
void LayerRun::SharedExperts() {
  if (w_.sh_gate.empty()) return;
  const auto n = static_cast<int64_t>(batch_.size());
  MatMulRows(w_.sh_gate, a_.xn.data(), 0, n, a_.exp_gate.data());  // [B, local rows]
  MatMulRows(w_.sh_up, a_.xn.data(), 0, n, a_.exp_up.data());      // [B, local rows]
  SiluMulRows(a_.exp_gate.data(), a_.exp_up.data(), n, w_.sh_gate.rows);
  MatMulRows(w_.sh_down, a_.exp_gate.data(), 0, n, a_.exp_out.data());  // [B, d]
  kernels::Add(a_.proj.data(), a_.exp_out.data(), n * c_.n_embd);
}

namespace {

// dst += w * src, [d]: every expert's contribution to a token goes through
// here, so the solo and the grouped path round alike.
void AddWeighted(float* dst, const float* src, float w, int64_t d) {
  for (int64_t t = 0; t < d; ++t) dst[t] += w * src[t];
}

}  // namespace

void LayerRun::CountExpertRows() {
  const int64_t k = c_.n_experts_used, first = s_.experts.begin, local = s_.experts.end - first;
  SoloExperts& solo = a_.solo;
  solo.count.assign(static_cast<size_t>(local), 0);
  solo.slot.assign(static_cast<size_t>(local), -1);
  solo.expert.clear();
  solo.row.clear();
  solo.weight.clear();
  const auto local_index = [&](size_t i) { return static_cast<int64_t>(a_.chosen[i]) - first; };
  const size_t n_chosen = batch_.size() * static_cast<size_t>(k);
  for (size_t i = 0; i < n_chosen; ++i)
    if (const int64_t l = local_index(i); l >= 0 && l < local) ++solo.count[l];
  for (size_t i = 0; i < n_chosen; ++i) {
    const int64_t l = local_index(i);
    if (l < 0 || l >= local || solo.count[l] != 1) continue;
    solo.slot[l] = static_cast<int32_t>(solo.row.size());
    solo.expert.push_back(a_.chosen[i]);
    solo.row.push_back(static_cast<int32_t>(i / static_cast<size_t>(k)));
    solo.weight.push_back(a_.chosen_w[i]);
  }
}

// Each solo expert's input is its row of xn ([B, d]); the rows a token shares
// between its k experts are quantized once. Outputs as RunExpert's MatVecs
// give them, bit for bit: gate/up [m, f_e], out [m, d].
void LayerRun::RunSoloExperts() {
  SoloExperts& solo = a_.solo;
  const auto m = static_cast<int64_t>(solo.row.size());
  if (m == 0) return;
  const int64_t d = c_.n_embd, fe = c_.n_ff_expert;
  if (solo.gate.size() < static_cast<size_t>(m * fe)) {
    solo.gate.resize(static_cast<size_t>(m * fe));
    solo.up.resize(static_cast<size_t>(m * fe));
  }
  if (solo.out.size() < static_cast<size_t>(m * d)) solo.out.resize(static_cast<size_t>(m * d));
  solo.jobs.clear();
  for (int64_t i = 0; i < m; ++i) {
    const int32_t e = solo.expert[i];
    const float* x = a_.xn.data() + solo.row[i] * d;
    solo.jobs.push_back({w_.exp_gate[e], x, solo.gate.data() + i * fe});
    solo.jobs.push_back({w_.exp_up[e], x, solo.up.data() + i * fe});
  }
  kernels::MatVecMany(solo.jobs, pool_);
  // Per expert, as RunExpert calls it: the same vector lanes and tail.
  for (int64_t i = 0; i < m; ++i) kernels::SiluMul(solo.gate.data() + i * fe, solo.up.data() + i * fe, fe);
  solo.jobs.clear();
  for (int64_t i = 0; i < m; ++i)
    solo.jobs.push_back({w_.exp_down[solo.expert[i]], solo.gate.data() + i * fe, solo.out.data() + i * d});
  kernels::MatVecMany(solo.jobs, pool_);
}

// Experts that one row chose run fused up front (all of them in decode);
// those with several rows run one by one as grouped MatMuls (prefill). The
// sums then go in increasing expert id, so each token adds its experts in
// the same order whichever path computed them.
void LayerRun::RunExperts() {
  CountExpertRows();
  RunSoloExperts();
  const SoloExperts& solo = a_.solo;
  const int64_t d = c_.n_embd, first = s_.experts.begin;
  for (int64_t e = first; e < s_.experts.end; ++e) {
    const int32_t count = solo.count[e - first];
    if (count == 1) {
      const int32_t i = solo.slot[e - first];
      AddWeighted(a_.proj.data() + solo.row[i] * d, solo.out.data() + i * d, solo.weight[i], d);
    } else if (count > 1) {
      RunExpert(e);
    }
  }
}

void LayerRun::RunExpert(int64_t e) {
  const int64_t d = c_.n_embd, fe = c_.n_ff_expert, k = c_.n_experts_used;
  a_.rows_of.clear();
  a_.rows_w.clear();
  for (size_t b = 0; b < batch_.size(); ++b)
    for (int64_t j = 0; j < k; ++j)
      if (a_.chosen[b * k + j] == e) {
        a_.rows_of.push_back(static_cast<int32_t>(b));
        a_.rows_w.push_back(a_.chosen_w[b * k + j]);
      }
  const auto n = static_cast<int64_t>(a_.rows_of.size());
  if (n == 0) return;  // no token chose it: its weights are not read
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(a_.exp_in.data() + i * d, a_.xn.data() + a_.rows_of[i] * d, d * sizeof(float));
  // rows_of is increasing: the decode rows among them come first.
  const auto lone = static_cast<int64_t>(
      std::lower_bound(a_.rows_of.begin(), a_.rows_of.end(), static_cast<int32_t>(decode_rows_)) - a_.rows_of.begin());
  MatMulLone(w_.exp_gate[e], a_.exp_in.data(), n, lone, a_.exp_gate.data());  // [n, f_e]
  MatMulLone(w_.exp_up[e], a_.exp_in.data(), n, lone, a_.exp_up.data());      // [n, f_e]
  SiluMulRows(a_.exp_gate.data(), a_.exp_up.data(), n, fe);
  MatMulLone(w_.exp_down[e], a_.exp_gate.data(), n, lone, a_.exp_out.data());  // [n, d]
  for (int64_t i = 0; i < n; ++i)
    AddWeighted(a_.proj.data() + a_.rows_of[i] * d, a_.exp_out.data() + i * d, a_.rows_w[i], d);
}

Status LayerRun::MoeFfn() {
  Route();
  std::fill(a_.proj.begin(), a_.proj.end(), 0.0f);
  // Increasing expert id: each token's contributions are summed in one fixed order.
  RunExperts();
  SharedExperts();
  return ReduceIntoResidual(experts_);
}

}  // namespace plexus
