#include "model/synth_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

#include "base/status.h"
#include "tensor/quant.h"

namespace plexus {
namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

// splitmix64's output function: a strong 64-bit mixer.
inline uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t HashName(std::string_view s) {  // FNV-1a
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

// exp(spread * z - spread^2) with z ~ N(0, 1) drawn from the row's seed: its
// mean square is 1, so the tensor's RMS stays `std`.
float RowScale(uint64_t row_seed, float spread) {
  if (spread <= 0) return 1.0f;
  float z;
  FillSynthRow(Mix64(row_seed ^ kGolden), 0.0f, 1.0f, &z, 1);
  return std::exp(spread * z - spread * spread);
}

}  // namespace

uint64_t SynthRowSeed(uint64_t seed, std::string_view tensor, int64_t row) {
  uint64_t h = Mix64(seed + kGolden);
  h = Mix64(h ^ HashName(tensor));
  return Mix64(h ^ (static_cast<uint64_t>(row) * kGolden));
}

void FillSynthRow(uint64_t row_seed, float mean, float std, float* dst, int64_t n) {
  // Sum of four 16-bit uniforms in [0, 1): mean 2, variance 4/12.
  constexpr float kUnit = 1.0f / 65536.0f;
  const float scale = std * std::sqrt(3.0f) * kUnit;
  uint64_t state = row_seed;
  for (int64_t i = 0; i < n; ++i) {
    state += kGolden;
    const uint64_t z = Mix64(state);
    const uint32_t sum = static_cast<uint32_t>(z & 0xFFFF) + static_cast<uint32_t>((z >> 16) & 0xFFFF) +
                         static_cast<uint32_t>((z >> 32) & 0xFFFF) + static_cast<uint32_t>(z >> 48);
    // sum is in [0, 4 * 65535]; its mean is 2 * 65535.
    dst[i] = mean + scale * (static_cast<float>(sum) - 2.0f * 65535.0f);
  }
}

std::vector<uint8_t> GenerateSynthTensor(const SynthTensorPlan& plan, uint64_t seed, ThreadPool* pool,
                                         int64_t distinct_rows) {
  const int64_t cols = plan.cols;
  const size_t row_bytes = RowBytes(plan.type, cols);
  std::vector<uint8_t> bytes(row_bytes * static_cast<size_t>(plan.rows));
  if (!plan.values.empty()) {
    PLEXUS_CHECK(plan.values.size() == static_cast<size_t>(cols * plan.rows), "{}", plan.name);
    for (int64_t r = 0; r < plan.rows; ++r)
      QuantizeRow(plan.type, plan.values.data() + r * cols, bytes.data() + r * row_bytes, cols);
    return bytes;
  }
  const int64_t generated = distinct_rows > 0 ? std::min(plan.rows, distinct_rows) : plan.rows;
  // About 64K values per chunk: enough to amortise scheduling, small enough to balance.
  const size_t grain = static_cast<size_t>(std::max<int64_t>(1, 65536 / cols));
  pool->ParallelFor(static_cast<size_t>(generated), grain, [&](size_t begin, size_t end) {
    std::vector<float> row(static_cast<size_t>(cols));
    for (size_t r = begin; r < end; ++r) {
      const uint64_t row_seed = SynthRowSeed(seed, plan.name, static_cast<int64_t>(r));
      FillSynthRow(row_seed, plan.mean, plan.std * RowScale(row_seed, plan.row_log_spread), row.data(), cols);
      QuantizeRow(plan.type, row.data(), bytes.data() + r * row_bytes, cols);
    }
  });
  pool->ParallelFor(static_cast<size_t>(plan.rows - generated), grain, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const auto r = static_cast<int64_t>(i) + generated;
      const uint64_t source = SynthRowSeed(seed, plan.name, r) % static_cast<uint64_t>(generated);
      std::memcpy(bytes.data() + r * row_bytes, bytes.data() + source * row_bytes, row_bytes);
    }
  });
  return bytes;
}

// Mirrors convert_hf_to_gguf.py (LlamaModel.generate_extra_tensors).
std::vector<float> Llama3RopeFactors(const SynthRopeScaling& scaling, float rope_base, int64_t head_dim) {
  const double low_wavelen = static_cast<double>(scaling.original_context) / scaling.low_freq_factor;
  const double high_wavelen = static_cast<double>(scaling.original_context) / scaling.high_freq_factor;
  std::vector<float> factors;
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    const double freq = 1.0 / std::pow(static_cast<double>(rope_base), 2.0 * i / head_dim);
    const double wavelen = 2 * std::numbers::pi / freq;
    double factor;
    if (wavelen < high_wavelen) {
      factor = 1;
    } else if (wavelen > low_wavelen) {
      factor = scaling.factor;
    } else {
      const double smooth = (scaling.original_context / wavelen - scaling.low_freq_factor) /
                            (scaling.high_freq_factor - scaling.low_freq_factor);
      factor = 1 / ((1 - smooth) / scaling.factor + smooth);
    }
    factors.push_back(static_cast<float>(factor));
  }
  return factors;
}

}  // namespace plexus
