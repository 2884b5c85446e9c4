// The stages of the sampler chain (sampler.h runs them in order), as free
// functions so that each can be tested on a small vector of logits.
//
// The sparse stages (logit bias, penalties) edit a full row of logits in
// place. The filtering stages (top-k, top-p, min-p) work on a `Candidates`
// list: (id, logit) pairs whose first `sorted` entries are the largest ones in
// order, so a stage sorts only as far as it needs (a partial sort of a 150k
// vocabulary, never a full one per step when top-k is small).
//
// Ordering: larger logit first; equal logits by smaller id first. Every stage
// is deterministic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <unordered_map>
#include <vector>

namespace plexus {

struct Candidate {
  int32_t id;
  float logit;
};

struct Candidates {
  std::vector<Candidate> items;
  size_t sorted = 0;           // items[0, sorted) are the largest, in order
  std::vector<float> weights;  // scratch for DrawCandidate
};

// All ids of `logits` that are not -inf or NaN (a banned token never
// becomes a candidate), in id order. Reuses `out`'s storage.
void BuildCandidates(std::span<const float> logits, Candidates* out);

// Makes items[0, n) the n largest in order (n is capped at the size).
void SortPrefix(Candidates* c, size_t n);

// logit[id] += bias for each entry; a bias of -inf bans the token.
void ApplyLogitBias(const std::map<int32_t, float>& bias, std::span<float> logits);

// For each token seen `count` > 0 times in the penalty window:
//   repetition (CTRL, as llama.cpp): logit > 0 ? logit / repeat : logit * repeat
//   frequency/presence (OpenAI):     logit -= count * frequency + presence
// `counts` maps id -> occurrences; ids outside `logits` are ignored.
void ApplyPenalties(const std::unordered_map<int32_t, int>& counts, float repeat, float frequency, float presence,
                    std::span<float> logits);

// Keeps the k most likely (exactly k; ties by smaller id). k <= 0: no-op.
void TopK(Candidates* c, int k);

// Keeps the most likely tokens until their probability (softmax over the
// current candidates) sums to at least p; tokens tied with the last one kept
// are kept too, so the result never depends on the order of equal logits.
// At least one token is always kept. p >= 1: no-op. A long unsorted list
// (no top-k before) is cut with a histogram of the mass over logit buckets,
// sorting only the bucket where the cut falls, and is left unsorted.
void TopP(Candidates* c, float p);

// Keeps tokens whose probability is at least min_p times the most likely
// one's: logit >= max_logit + log(min_p). min_p <= 0: no-op.
void MinP(Candidates* c, float min_p);

// Divides every logit by `temperature` (> 0).
void ScaleByTemperature(Candidates* c, float temperature);

// The candidate with the largest logit (smallest id on ties); -1 when empty.
int32_t ArgMaxCandidate(const Candidates& c);

// Draws from the softmax over the candidates: `u` in [0, 1) picks the
// candidate where the cumulative probability first exceeds u, in list order.
// -1 when empty.
int32_t DrawCandidate(Candidates* c, double u);

}  // namespace plexus
