// Scalar codecs of the legacy 32-element blocks: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"

namespace plexus::quant {
namespace {

constexpr int kHalf = kQK / 2;

uint32_t LoadQh(const uint8_t* qh) {
  uint32_t v;
  std::memcpy(&v, qh, sizeof(v));  // little-endian, as ggml reads it
  return v;
}

void StoreQh(uint32_t v, uint8_t* qh) { std::memcpy(qh, &v, sizeof(v)); }

// The first value with the largest magnitude, keeping its sign; 0 when all
// are zero (or NaN). Two passes: the largest magnitude without branches, then
// the first value that has it. One pass that kept the value as it went
// mispredicted a branch at every new maximum of random data.
float SignedAbsMax(const float* x, int n) {
  float amax = 0.0f;
  for (int j = 0; j < n; ++j) amax = std::max(amax, std::fabs(x[j]));
  if (amax == 0.0f) return 0.0f;
  int j = 0;
  while (std::fabs(x[j]) != amax) ++j;
  return x[j];
}

// Symmetric encoders: d = max / -levels_below_zero, so the extreme value
// lands exactly on the lowest quant; q in [0, 2 * bias).
void EncodeSymmetric(const float* x, int bias, uint16_t* d_bits, int* q) {
  *d_bits = F32ToF16(SignedAbsMax(x, kQK) / static_cast<float>(-bias));
  const float d = F16ToF32(*d_bits);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < kQK; ++j) q[j] = RoundClamp(x[j] * id, -bias, bias - 1) + bias;
}

// Asymmetric encoders: x = q * d + m with m = min, q in [0, levels].
void EncodeMinMax(const float* x, int levels, uint16_t* d_bits, uint16_t* m_bits, int* q) {
  const auto [lo, hi] = std::minmax_element(x, x + kQK);
  *m_bits = F32ToF16(*lo);
  const float m = F16ToF32(*m_bits);
  *d_bits = F16RoundUp((*hi - m) / static_cast<float>(levels));
  const float d = F16ToF32(*d_bits);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < kQK; ++j) q[j] = RoundClamp((x[j] - m) * id, 0, levels);
}

void PackNibbles(const int* q, uint8_t* qs) {
  for (int j = 0; j < kHalf; ++j) qs[j] = static_cast<uint8_t>((q[j] & 0xF) | ((q[j + kHalf] & 0xF) << 4));
}

uint32_t PackFifthBits(const int* q) {
  uint32_t qh = 0;
  for (int j = 0; j < kQK; ++j) qh |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
  return qh;
}

// The 5-bit quants of a Q5 block, before the -16 or the min.
void UnpackQ5(const uint8_t* qs, uint32_t qh, int* q) {
  for (int j = 0; j < kHalf; ++j) {
    const int xh0 = static_cast<int>(((qh >> j) << 4) & 0x10);
    const int xh1 = static_cast<int>((qh >> (j + 12)) & 0x10);
    q[j] = (qs[j] & 0xF) | xh0;
    q[j + kHalf] = (qs[j] >> 4) | xh1;
  }
}

}  // namespace

uint16_t F16RoundUp(float v) {
  uint16_t bits = F32ToF16(v);
  if (F16ToF32(bits) < v) ++bits;  // positive halves are ordered like their bits
  return bits;
}

void DecodeBlock(const BlockQ4_0& b, float* y) {
  const float d = F16ToF32(b.d);
  for (int j = 0; j < kHalf; ++j) {
    y[j] = static_cast<float>((b.qs[j] & 0xF) - 8) * d;
    y[j + kHalf] = static_cast<float>((b.qs[j] >> 4) - 8) * d;
  }
}

void DecodeBlock(const BlockQ4_1& b, float* y) {
  const float d = F16ToF32(b.d), m = F16ToF32(b.m);
  for (int j = 0; j < kHalf; ++j) {
    y[j] = static_cast<float>(b.qs[j] & 0xF) * d + m;
    y[j + kHalf] = static_cast<float>(b.qs[j] >> 4) * d + m;
  }
}

void DecodeBlock(const BlockQ5_0& b, float* y) {
  const float d = F16ToF32(b.d);
  int q[kQK];
  UnpackQ5(b.qs, LoadQh(b.qh), q);
  for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(q[j] - 16) * d;
}

void DecodeBlock(const BlockQ5_1& b, float* y) {
  const float d = F16ToF32(b.d), m = F16ToF32(b.m);
  int q[kQK];
  UnpackQ5(b.qs, LoadQh(b.qh), q);
  for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(q[j]) * d + m;
}

void DecodeBlock(const BlockQ8_0& b, float* y) {
  const float d = F16ToF32(b.d);
  for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
}

void EncodeBlock(const float* x, BlockQ4_0* b) {
  int q[kQK];
  EncodeSymmetric(x, 8, &b->d, q);
  PackNibbles(q, b->qs);
}

void EncodeBlock(const float* x, BlockQ4_1* b) {
  int q[kQK];
  EncodeMinMax(x, 15, &b->d, &b->m, q);
  PackNibbles(q, b->qs);
}

void EncodeBlock(const float* x, BlockQ5_0* b) {
  int q[kQK];
  EncodeSymmetric(x, 16, &b->d, q);
  PackNibbles(q, b->qs);
  StoreQh(PackFifthBits(q), b->qh);
}

void EncodeBlock(const float* x, BlockQ5_1* b) {
  int q[kQK];
  EncodeMinMax(x, 31, &b->d, &b->m, q);
  PackNibbles(q, b->qs);
  StoreQh(PackFifthBits(q), b->qh);
}

void EncodeBlock(const float* x, BlockQ8_0* b) {
  float amax = 0.0f;
  for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
  b->d = F16RoundUp(amax / 127.0f);
  const float d = F16ToF32(b->d);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < kQK; ++j) b->qs[j] = static_cast<int8_t>(RoundClamp(x[j] * id, -127, 127));
}

}  // namespace plexus::quant
