// Seeded weight generation for synthetic models.
//
// Generation is counter based: the values of a row depend only on (seed,
// tensor name, row index), so rows can be filled by any thread in any order
// and the file is byte-identical whatever the thread count.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/thread_pool.h"
#include "model/synth_presets.h"
#include "tensor/dtype.h"

namespace plexus {

// One tensor to generate: shape [cols = ne0, rows = ne1] (rows 1 for 1-D).
// Values are mean + noise of standard deviation `std`, unless `values` is set.
struct SynthTensorPlan {
  std::string name;
  DType type = DType::kF32;
  int64_t cols = 0;
  int64_t rows = 1;
  float mean = 0;
  float std = 0;
  std::vector<float> values;  // explicit values (rope_freqs), cols * rows of them
  // > 0: row r's std is std * exp(spread * z_r - spread^2), z_r ~ N(0, 1), which
  // keeps the overall RMS but gives the logit distribution a heavier top tail
  // (sharp output matrices: larger gaps between the top logits).
  float row_log_spread = 0;

  bool is_1d = false;         // norms, biases, rope_freqs: shape [cols]
  // > 0: a 3-D stack of n_slabs matrices (MoE experts), shape [cols, rows /
  // n_slabs, n_slabs]; `rows` counts the rows of all slabs.
  int64_t n_slabs = 0;

  std::vector<int64_t> shape() const {
    if (is_1d) return {cols};
    if (n_slabs > 0) return {cols, rows / n_slabs, n_slabs};
    return {cols, rows};
  }
};

// The seed of one row: a hash of (seed, tensor name, row).
uint64_t SynthRowSeed(uint64_t seed, std::string_view tensor, int64_t row);

// dst[i] = mean + std * z_i, z_i zero-mean, unit-variance noise (a sum of four
// uniforms: nearly normal, bounded at +-3.46). Cheap enough for 8B models.
void FillSynthRow(uint64_t row_seed, float mean, float std, float* dst, int64_t n);

// Encodes the tensor's values as plan.type, rows in parallel on `pool`.
// distinct_rows > 0: only rows [0, distinct_rows) are generated, and each
// later row copies one of them (SynthOptions::distinct_rows).
std::vector<uint8_t> GenerateSynthTensor(const SynthTensorPlan& plan, uint64_t seed, ThreadPool* pool,
                                         int64_t distinct_rows = 0);

// rope_freqs.weight for llama3 rope scaling, as llama.cpp's converter writes
// it: head_dim / 2 divisors, one per rotary pair (engines use freq_i / f_i).
std::vector<float> Llama3RopeFactors(const SynthRopeScaling& scaling, float rope_base, int64_t head_dim);

}  // namespace plexus
