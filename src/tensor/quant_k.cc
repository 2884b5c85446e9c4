// Scalar codecs of the K super-blocks (256 elements): Q4_K, Q5_K, Q6_K.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_k_scales.h"

namespace plexus::quant {
namespace {

constexpr int kSub = 32;                // elements per Q4_K/Q5_K sub-block
constexpr int kNumSub = kQKK / kSub;    // 8
constexpr int kSub6 = 16;               // elements per Q6_K sub-block
constexpr int kNumSub6 = kQKK / kSub6;  // 16

// Q4_K/Q5_K: the four 64-element chunks each hold sub-blocks 2c (low
// nibbles) and 2c + 1 (high nibbles). Decodes one chunk given its quants.
void DecodeChunkK(const uint8_t* scales, int chunk, float d, float dmin, const int* q_lo, const int* q_hi,
                  float* y) {
  const ScaleMin a = GetScaleMinK(scales, 2 * chunk);
  const ScaleMin b = GetScaleMinK(scales, 2 * chunk + 1);
  const float d1 = d * a.scale, m1 = dmin * a.min;
  const float d2 = d * b.scale, m2 = dmin * b.min;
  for (int l = 0; l < kSub; ++l) {
    y[l] = d1 * static_cast<float>(q_lo[l]) - m1;
    y[l + kSub] = d2 * static_cast<float>(q_hi[l]) - m2;
  }
}

// Chooses 6-bit scales and mins for 8 sub-blocks so that each sub-block's
// range [min(0, lo), hi] fits in `levels` steps, and quantizes x to q.
// Scales and mins round up, so no element is clamped.
void EncodeScalesK(const float* x, int levels, uint16_t* d_bits, uint16_t* dmin_bits, uint8_t* scales, int* q) {
  float mins[kNumSub], his[kNumSub];
  float max_min = 0.0f;
  for (int s = 0; s < kNumSub; ++s) {
    const auto [lo, hi] = std::minmax_element(x + s * kSub, x + (s + 1) * kSub);
    mins[s] = -std::min(0.0f, *lo);
    his[s] = *hi;
    max_min = std::max(max_min, mins[s]);
  }
  *dmin_bits = F16RoundUp(max_min / 63.0f);
  const float dmin = F16ToF32(*dmin_bits);
  int lm[kNumSub];
  float need[kNumSub], max_need = 0.0f;
  for (int s = 0; s < kNumSub; ++s) {
    lm[s] = dmin > 0.0f ? std::min(63, static_cast<int>(std::ceil(mins[s] / dmin))) : 0;
    need[s] = (his[s] + dmin * static_cast<float>(lm[s])) / static_cast<float>(levels);
    max_need = std::max(max_need, need[s]);
  }
  *d_bits = F16RoundUp(max_need / 63.0f);
  const float d = F16ToF32(*d_bits);
  std::memset(scales, 0, kKScaleBytes);
  for (int s = 0; s < kNumSub; ++s) {
    const int ls = d > 0.0f ? std::min(63, static_cast<int>(std::ceil(need[s] / d))) : 0;
    SetScaleMinK(scales, s, {static_cast<uint8_t>(ls), static_cast<uint8_t>(lm[s])});
    const float sc = d * static_cast<float>(ls), m = dmin * static_cast<float>(lm[s]);
    const float inv = sc > 0.0f ? 1.0f / sc : 0.0f;
    for (int l = 0; l < kSub; ++l) q[s * kSub + l] = RoundClamp((x[s * kSub + l] + m) * inv, 0, levels);
  }
}

}  // namespace

void DecodeBlock(const BlockQ4_K& b, float* y) {
  const float d = F16ToF32(b.d), dmin = F16ToF32(b.dmin);
  for (int c = 0; c < 4; ++c) {
    int q_lo[kSub], q_hi[kSub];
    const uint8_t* q = b.qs + c * kSub;
    for (int l = 0; l < kSub; ++l) {
      q_lo[l] = q[l] & 0xF;
      q_hi[l] = q[l] >> 4;
    }
    DecodeChunkK(b.scales, c, d, dmin, q_lo, q_hi, y + c * 2 * kSub);
  }
}

void DecodeBlock(const BlockQ5_K& b, float* y) {
  const float d = F16ToF32(b.d), dmin = F16ToF32(b.dmin);
  for (int c = 0; c < 4; ++c) {
    int q_lo[kSub], q_hi[kSub];
    const uint8_t* ql = b.qs + c * kSub;
    const int u1 = 1 << (2 * c), u2 = 2 << (2 * c);
    for (int l = 0; l < kSub; ++l) {
      q_lo[l] = (ql[l] & 0xF) + ((b.qh[l] & u1) ? 16 : 0);
      q_hi[l] = (ql[l] >> 4) + ((b.qh[l] & u2) ? 16 : 0);
    }
    DecodeChunkK(b.scales, c, d, dmin, q_lo, q_hi, y + c * 2 * kSub);
  }
}

void DecodeBlock(const BlockQ6_K& b, float* y) {
  const float d = F16ToF32(b.d);
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = b.ql + 64 * half;
    const uint8_t* qh = b.qh + 32 * half;
    const int8_t* sc = b.scales + 8 * half;
    float* out = y + 128 * half;
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      out[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
      out[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
      out[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
      out[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
    }
  }
}

void EncodeBlock(const float* x, BlockQ4_K* b) {
  int q[kQKK];
  EncodeScalesK(x, 15, &b->d, &b->dmin, b->scales, q);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < kSub; ++l) {
      b->qs[c * kSub + l] = static_cast<uint8_t>(q[2 * c * kSub + l] | (q[(2 * c + 1) * kSub + l] << 4));
    }
  }
}

void EncodeBlock(const float* x, BlockQ5_K* b) {
  int q[kQKK];
  EncodeScalesK(x, 31, &b->d, &b->dmin, b->scales, q);
  std::memset(b->qh, 0, sizeof(b->qh));
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < kSub; ++l) {
      const int lo = q[2 * c * kSub + l], hi = q[(2 * c + 1) * kSub + l];
      b->qs[c * kSub + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
      b->qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
    }
  }
}

namespace {

// Q6_K: per 16-element sub-block, the signed extreme maps to -32; the
// sub-block scales are int8 multiples of d, rounded away from zero.
void EncodeScales6(const float* x, uint16_t* d_bits, int8_t* scales, int* q) {
  float sub_scale[kNumSub6], max_scale = 0.0f;
  for (int s = 0; s < kNumSub6; ++s) {
    float amax = 0.0f, max = 0.0f;
    for (int l = 0; l < kSub6; ++l) {
      const float v = x[s * kSub6 + l];
      if (std::fabs(v) > amax) {
        amax = std::fabs(v);
        max = v;
      }
    }
    sub_scale[s] = max / -32.0f;
    max_scale = std::max(max_scale, amax / 32.0f);
  }
  *d_bits = F16RoundUp(max_scale / 127.0f);
  const float d = F16ToF32(*d_bits);
  for (int s = 0; s < kNumSub6; ++s) {
    const float mag = d > 0.0f ? std::ceil(std::fabs(sub_scale[s]) / d) : 0.0f;
    const int ls = static_cast<int>(std::copysign(std::min(127.0f, mag), sub_scale[s]));
    scales[s] = static_cast<int8_t>(ls);
    const float sc = d * static_cast<float>(ls);
    const float inv = sc != 0.0f ? 1.0f / sc : 0.0f;
    for (int l = 0; l < kSub6; ++l) q[s * kSub6 + l] = RoundClamp(x[s * kSub6 + l] * inv, -32, 31) + 32;
  }
}

}  // namespace

void EncodeBlock(const float* x, BlockQ6_K* b) {
  int q[kQKK];  // 0..63
  EncodeScales6(x, &b->d, b->scales, q);
  for (int half = 0; half < 2; ++half) {
    const int* v = q + 128 * half;
    uint8_t* ql = b->ql + 64 * half;
    uint8_t* qh = b->qh + 32 * half;
    for (int l = 0; l < 32; ++l) {
      ql[l] = static_cast<uint8_t>((v[l] & 0xF) | ((v[l + 64] & 0xF) << 4));
      ql[l + 32] = static_cast<uint8_t>((v[l + 32] & 0xF) | ((v[l + 96] & 0xF) << 4));
      qh[l] = static_cast<uint8_t>((v[l] >> 4) | ((v[l + 32] >> 4) << 2) | ((v[l + 64] >> 4) << 4) |
                                   ((v[l + 96] >> 4) << 6));
    }
  }
}

}  // namespace plexus::quant
