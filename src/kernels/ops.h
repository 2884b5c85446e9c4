// Numeric kernels. They know nothing of models: they take pointers, sizes and
// TensorViews. Each SIMD kernel (Highway, dynamic dispatch) has a scalar twin
// in ops_scalar.h that the tests compare it with on every compiled target.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/aligned_vector.h"
#include "base/thread_pool.h"
#include "tensor/dtype.h"
#include "tensor/tensor_view.h"

namespace plexus::kernels {

// sum_i dequant(row)[i] * x[i] for a row of n elements of `type`.
float Dot(DType type, const void* row, const float* x, int64_t n);

// Activations quantized for integer dot products (decode and prefill): per
// block of 32, x[i] ~ d * q[i] with q = round(x[i] / d) in [-127, 127], d =
// max|x| / 127; q is stored as int16 so the kernels widen only the weights.
// sum = d * sum(q) of the block meets the K-types' mins. q4_bias[p] of a
// block is -8 * (q[2p] + q[2p+1] + q[16+2p] + q[17+2p]): the Q4_0 offset of
// the elements that one int32 lane of a 16-lane pmaddwd pair sums, so the
// x86 kernel starts that lane there and multiplies the nibbles as stored.
// Arrays start on a cache line (AlignedVector): the AVX-512 kernels load them
// 64 bytes at a time.
struct QuantizedActs {
  int64_t rows = 0;
  int64_t cols = 0;
  AlignedVector<int16_t> q;        // [rows, cols]
  AlignedVector<float> d;          // [rows, cols / 32]
  AlignedVector<float> sum;        // [rows, cols / 32]
  AlignedVector<int32_t> q4_bias;  // [rows, cols / 32, kQ4BiasLanes]
  AlignedVector<int16_t> q4_hi;    // [rows, cols / 32, 16]: q[16 + j] - 16 q[j] of each block
  AlignedVector<int16_t> q4_lo;    // [rows, cols / 32, 16]: q[j], j < 16, of each block (AVX-512 Q4_0 pairs)
  AlignedVector<float> dsum;       // [rows, cols / 32, 2]: (d, sum) of each block, side by side (AVX-512 Q4_K, Q5_K)
  AlignedVector<float> sum16;      // [rows, cols / 16]: sum of the quants of each 16 elements, exact (AVX-512 Q6_K)
  // [rows, cols]: each 256 elements' quants in the order the AVX-512 Q4_K
  // and Q5_K kernel (DotK45Pairs) pairs them with nibbles read two bytes at
  // a time (Q4_KPairOrder); empty unless cols is a multiple of 256.
  AlignedVector<int16_t> k4_pairs;
};
constexpr int kActBlock = 32;
constexpr int kQ4BiasLanes = 8;

// Where element i (< 256) of a super-block goes in QuantizedActs::k4_pairs.
// Half h of a Q4_K super-block is 64 quant bytes, read as 32 16-bit lanes:
// lane j holds bytes 2j and 2j + 1, four nibbles. Lanes j < 16 are chunk 2h
// (sub-blocks 4h low nibbles, 4h + 1 high), lanes 16 + j chunk 2h + 1
// (sub-blocks 4h + 2, 4h + 3). Taking one nibble of every lane gives four
// vectors e (0: low nibble of the even byte, 1: of the odd byte, 2 and 3:
// the high nibbles); vector 4h + e pairs with activations [32 (4h + e), +32),
// lane j with the element its nibble belongs to.
constexpr int64_t Q4_KPairOrder(int64_t i) {
  const int64_t sub = i / 32, elem = i % 32;  // sub-block 4h + 2 * upper + high, elem = 2 * j + odd
  const int64_t h = sub / 4, upper = (sub / 2) % 2, high = sub % 2;
  const int64_t e = 2 * high + elem % 2, lane = 16 * upper + elem / 2;
  return 32 * (4 * h + e) + lane;
}

// x: [rows, cols], cols a multiple of kActBlock. SIMD (quantize_acts.cc),
// bit-identical to its plain-C++ twin scalar::QuantizeActs, so the SIMD
// kernels and their scalar twins see the same quants.
void QuantizeActs(const float* x, int64_t rows, int64_t cols, QuantizedActs* out);
// Sizes every array of *out for x: [rows, cols] (cols a multiple of kActBlock).
void ResizeQuantizedActs(int64_t rows, int64_t cols, QuantizedActs* out);

// Whether MatVec/MatMul multiply rows of `type` with QuantizedActs (Q4_0,
// Q8_0, Q4_K, Q5_K, Q6_K) rather than with the float activations.
bool UsesQuantizedActs(DType type);

// Integer dot of a row of `type` (UsesQuantizedActs) with row x_row of x.
float DotQ8(DType type, const void* row, const QuantizedActs& x, int64_t x_row);

// y[r] = Dot(w.row(r), x), r in [0, w.rows). x: [w.cols], y: [w.rows].
// For UsesQuantizedActs(w.type), x is quantized once and y[r] = DotQ8.
void MatVec(const TensorView& w, const float* x, float* y, ThreadPool& pool);

// One product of MatVecMany: y = w x. x: [w.cols], y: [w.rows].
struct MatVecJob {
  TensorView w;
  const float* x;
  float* y;
};

// Every job's MatVec in one pool dispatch (decode runs several small
// independent matrices in a row: q/k/v, gate/up, a token's experts; one
// wake-up and barrier for all of them instead of one each). Each y is
// bit-identical to MatVec(job.w, job.x, job.y): the same per-row dot, and
// for UsesQuantizedActs types the same quants of x, made once per distinct
// (x, cols) however many jobs share that input. Rows are handed out in
// chunks of about equal weight bytes across jobs of any shape and type.
// No job's y may overlap any job's x.
void MatVecMany(std::span<const MatVecJob> jobs, ThreadPool& pool);

// Y = X W^T for a batched decode step: x holds one token of each of
// n_tokens sequences ([n_tokens, w.cols] row-major), y: [n_tokens, w.rows].
// Row t of y is bit-identical to MatVec(w, x + t * w.cols, ...), for every
// type and on every target, whatever n_tokens and the threads: a sequence's
// results do not depend on which others share its step. UsesQuantizedActs
// types: each weight block is unpacked once per tile of up to 4 tokens and
// multiplied with their int8 quants in MatVec's order (matmul_q8-inl.h);
// other types: MatVec's row dot per token.
void MatVecBatch(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

// Most tokens for which the model layer runs a decode step's product with w
// as MatVecBatch: where MatVecBatch stops being about as fast as MatMul's
// float path (measured, docs/PERFORMANCE.md); past it MatMul's speed wins
// over the bit-identity.
int64_t MatVecBatchMaxTokens(const TensorView& w);

// Y = X W^T. x: [n_tokens, w.cols] row-major, y: [n_tokens, w.rows] row-major.
// Each weight row is decoded once and reused for every token (prefill), with
// float activations; n_tokens == 1 is MatVec. From kBlasMinTokens tokens on,
// OpenBLAS's sgemm does the multiplying where plexus was built with it
// (matmul_blas.h); quantized and bf16 rows from kBf16MinTokens on in bf16
// (matmul_bf16.h); f32/f16/bf16 rows short of those as MatVecBatch, each
// token with MatVec's bits.
void MatMul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

// out[r] = Dot(w.type, w.row(r), x, w.cols) for every row, on the calling
// thread, with the bits of those Dot calls. For many short rows of a strided
// table (attention's cached keys: w.row_bytes is the cache row's stride).
// x: [w.cols], out: [w.rows].
void DotRows(const TensorView& w, const float* x, float* out);

// Rows [r0, r1) of w decoded to float: out [(r1 - r0), w.cols], row-major.
void WeightRowsToFloat(const TensorView& w, int64_t r0, int64_t r1, float* out);
// Rows [r0, r1) of w decoded to bf16 bits: out [(r1 - r0), w.cols],
// row-major, each value rounded half away from zero (the high half of its
// f32 bits + 0x8000; bf16 rows are copied as they are). The weight operands
// of the bf16 products (matmul_bf16.cc; bf16_rows.cc says why its own).
void WeightRowsToBf16(const TensorView& w, int64_t r0, int64_t r1, uint16_t* out);

// Rows [r0, r0 + m) of a cache table as f32 rows, *stride floats apart: the
// f32 rows in place, any other type decoded into scratch [m, rows.cols]
// (packed f16 rows in one conversion). attention.cc.
const float* RowsAsFloat(const TensorView& rows, int64_t r0, int64_t m, float* scratch, int64_t* stride);

// out = x / sqrt(mean(x^2) + eps) * weight. out may alias x. All [n].
void RmsNorm(const float* x, const float* weight, float* out, int64_t n, float eps);

// Rotary embedding in place on x: [n_heads, head_dim].
// inv_freq: [head_dim / 2], the angle of pair i at position pos is pos * inv_freq[i].
// kAdjacent rotates (x[2i], x[2i+1]) (ggml "normal", Llama GGUFs);
// kHalves rotates (x[i], x[i + head_dim/2]) (ggml "neox", Qwen).
enum class RopeStyle { kAdjacent, kHalves };
void Rope(float* x, int n_heads, int head_dim, int64_t pos, const float* inv_freq, RopeStyle style);

// In place: x = softmax(x). [n]
void Softmax(float* x, int64_t n);

// In place: gate = silu(gate) * up. [n]
void SiluMul(float* gate, const float* up, int64_t n);

// sum_i x[i] with several independent accumulators: the read loop of the
// memory-bandwidth measurement (plexus bench). [n]
float Sum(const float* x, int64_t n);

// In place: y += x. [n]
void Add(float* y, const float* x, int64_t n);

// Attention's weighted sums and an f16 cache's conversions (latent_ops.cc).
// In place: y += a * x (fused where the target has FMA). [n]
void Axpy(float a, const float* x, float* y, int64_t n);
// In place: y += sum_r a[r] * x_r, x_r = x + r * x_stride; each element sums
// in row order, as k Axpy calls would. a: [k], x_r and y: [n].
void AxpyRows(const float* a, int64_t k, const float* x, int64_t x_stride, float* y, int64_t n);
// out[i] = the f16 value h[i] as f32. [n]
void HalfToFloat(const uint16_t* h, float* out, int64_t n);
// In place: x[i] = F16ToF32(F32ToF16(x[i])), the nearest f16 (ties to even). [n]
void RoundToHalf(float* x, int64_t n);
// out[i] = F32ToBF16(x[i]): the nearest bfloat16 (ties to even). [n]
void FloatToBf16(const float* x, uint16_t* out, int64_t n);

// Attention over a KV cache (attention.cc). Keys are cached transposed in
// tiles of kKeyTile positions: tile k holds positions [k * kKeyTile, (k + 1)
// * kKeyTile) as [dh][kKeyTile] (position k * kKeyTile + t, element i at
// i * kKeyTile + t), so a vector of lanes is a run of keys.
inline constexpr int64_t kKeyTile = 32;

// out[j][t] = sum_i q[j][i] * kt[i * kKeyTile + t], i increasing, for the
// n_q queries: kt [dh][kKeyTile] f32, q[j] [dh], out[j] [kKeyTile].
void ScoreKeyTile(const float* kt, int64_t dh, const float* const* q, int64_t n_q, float* const* out);

// Causal attention of n_queries consecutive positions of one sequence, for
// `heads` query heads that share one KV head. Query i sees positions [0,
// first_len + i). For each (query, head): scores = q . K / sqrt(dh),
// softmax, out = sum_t p_t V_t (positions in order). With an f16 cache, q
// and the softmax weights are rounded to f16 before they meet K and V.
struct KvHeadAttention {
  DType type = DType::kF16;           // of the cache: kF16 or kF32
  const uint8_t* key_tiles = nullptr;  // [ceil(len / kKeyTile)][dh][kKeyTile] of type
  const uint8_t* values = nullptr;     // [len, dh] rows of type, value_row_bytes apart
  size_t value_row_bytes = 0;
  int64_t dh = 0;
  int64_t first_len = 0;  // positions query 0 attends to (its position + 1)
  int64_t n_queries = 1;
  int64_t heads = 1;
  const float* q = nullptr;  // query i, head j: q + i * q_stride + j * dh, [dh]
  int64_t q_stride = 0;
  float* out = nullptr;  // the same layout as q, overwritten
  int64_t out_stride = 0;
};
// Floats of scratch AttendKvHead needs when first_len + n_queries - 1 <= max_len.
size_t AttendScratchFloats(int64_t heads, int64_t n_queries, int64_t max_len, int64_t dh);
// On the calling thread; scratch: AttendScratchFloats(...) floats.
void AttendKvHead(const KvHeadAttention& a, float* scratch);

// Names of the Highway targets compiled into this binary and usable on this
// CPU, best first (for logs and `plexus inspect`).
const char* BestTargetName();

}  // namespace plexus::kernels
