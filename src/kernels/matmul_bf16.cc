#include "kernels/matmul_bf16.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "base/env_flag.h"
#include "kernels/ops.h"
#include "kernels/panels.h"

#ifdef PLEXUS_HAVE_DNNL
#include <omp.h>

#include <dnnl.hpp>
#endif

namespace plexus::kernels {

bool UsesBf16Products(DType type) {
  switch (type) {
    case DType::kF32:
    case DType::kF16:
      return false;
    default:
      return true;
  }
}

#ifdef PLEXUS_HAVE_DNNL

namespace {

std::atomic<bool> g_enabled{true};

// Panels of 64 rows or more, up to 1024 while each thread still gets two
// (one oneDNN call per panel: fewer, wider panels spread the activations'
// packing over more rows), at most 8 MiB of bf16 per thread. A matrix with
// fewer panels than threads leaves some threads idle and still goes here:
// one thread's bf16 product outruns several threads of f32 (an MoE expert's
// 768 rows on 16 threads: 12 panels).
constexpr PanelLimits kPanels = {.min_rows = 64, .max_rows = 1024, .max_elems = int64_t{4} << 20, .every_thread = false};

const dnnl::engine& Engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// y[:, r0..r1) (rows of y ldy apart) = x_bf16 [m, k] * rows_bf16 [r1 - r0, k]^T.
void Bf16Gemm(const uint16_t* x, const uint16_t* rows, int64_t m, int64_t n, int64_t k, float* y, int64_t ldy) {
  using dt = dnnl::memory::data_type;
  const dnnl::memory::desc x_md({m, k}, dt::bf16, dnnl::memory::dims{k, 1});
  const dnnl::memory::desc w_md({k, n}, dt::bf16, dnnl::memory::dims{1, k});
  const dnnl::memory::desc y_md({m, n}, dt::f32, dnnl::memory::dims{ldy, 1});
  // oneDNN's primitive cache makes the repeated shapes cheap (~15 us here).
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(x_md, w_md, y_md), Engine());
  const dnnl::matmul product(pd);
  dnnl::stream stream(Engine());
  dnnl::memory x_mem(x_md, Engine(), const_cast<uint16_t*>(x));
  dnnl::memory w_mem(w_md, Engine(), const_cast<uint16_t*>(rows));
  dnnl::memory y_mem(y_md, Engine(), y);
  product.execute(stream, {{DNNL_ARG_SRC, x_mem}, {DNNL_ARG_WEIGHTS, w_mem}, {DNNL_ARG_DST, y_mem}});
  stream.wait();
}

}  // namespace

bool Bf16MatMulAvailable() {
  static const bool available = [] {
    if (!EnvFlag("PLEXUS_BF16", true)) return false;
    const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
    return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
  }();
  return available && g_enabled.load(std::memory_order_relaxed);
}

void SetBf16MatMulEnabled(bool enabled) { g_enabled.store(enabled, std::memory_order_relaxed); }

namespace {

// Each pool thread (and the caller) runs oneDNN on one OpenMP thread: the
// pool owns the threads.
void OneOpenMpThread() {
  thread_local const bool once = (omp_set_num_threads(1), true);
  (void)once;
}

// The activations in bf16 (FloatToBf16: ties to even): [n_tokens, cols].
const uint16_t* TokensToBf16(const float* x, int64_t n_tokens, int64_t cols) {
  thread_local std::vector<uint16_t> x_bf16;
  x_bf16.resize(static_cast<size_t>(n_tokens * cols));
  FloatToBf16(x, x_bf16.data(), n_tokens * cols);
  return x_bf16.data();
}

// Many tokens: panels of decoded rows as oneDNN's weights, the tokens as its
// source, one product per panel straight into y.
void ManyTokenProduct(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
                      int64_t panel) {
  const int64_t cols = w.cols, n_panels = (w.rows + panel - 1) / panel;
  const uint16_t* xb = TokensToBf16(x, n_tokens, cols);
  // bf16 rows packed back to back are the weights as they are.
  const bool in_place = w.type == DType::kBF16 && w.row_bytes == static_cast<size_t>(cols) * sizeof(uint16_t);
  pool.ParallelFor(static_cast<size_t>(n_panels), 1, [&](size_t begin, size_t end) {
    OneOpenMpThread();
    thread_local std::vector<uint16_t> rows_bf16;  // [panel rows, cols]
    for (size_t p = begin; p < end; ++p) {
      const int64_t r0 = static_cast<int64_t>(p) * panel, r1 = std::min(w.rows, r0 + panel);
      const auto* rows = reinterpret_cast<const uint16_t*>(w.row(r0));
      if (!in_place) {
        rows_bf16.resize(static_cast<size_t>((r1 - r0) * cols));
        WeightRowsToBf16(w, r0, r1, rows_bf16.data());
        rows = rows_bf16.data();
      }
      Bf16Gemm(xb, rows, n_tokens, r1 - r0, cols, y + r0, w.rows);
    }
  });
}

// Few tokens (a decode step of several sequences, a short prompt): the roles
// swap. A panel of kFewPanelRows decoded rows is oneDNN's source A, row-major
// as decoded (AMX loads its tiles as they lie); the tokens are its B, put
// once per call into the layout the primitive chose. Measured on the AVX-512
// machine kind (standalone oneDNN test, one thread), 8 tokens by 64 rows of
// 2048: 3.8-4.4 us this way, 6.3 us with oneDNN laying the tokens out per
// call, 13-17 us with the tokens as the source (it re-lays the weight panel
// out per call); 128-row panels ran 1.5-2x slower per row. (Prefetching the
// next panel into L2 before each call measured no faster.)
constexpr int64_t kFewPanelRows = 64;

struct FewTokenProduct {
  dnnl::matmul product;         // C [kFewPanelRows, n] f32 = A [kFewPanelRows, k] * B [k, n]
  dnnl::reorder tokens_to_b;    // [n, k] bf16 row-major -> B's layout
  dnnl::memory::desc tokens_md, b_md, scratch_md;
};

// One primitive per (k, n), built once (~15 us through oneDNN's own cache
// otherwise, per call) and run from every pool thread at once, each with its
// own scratchpad.
const FewTokenProduct& FewTokenProductFor(int64_t k, int64_t n) {
  static std::mutex mu;
  static std::map<std::pair<int64_t, int64_t>, std::unique_ptr<FewTokenProduct>> cache;
  std::lock_guard<std::mutex> lock(mu);
  std::unique_ptr<FewTokenProduct>& slot = cache[{k, n}];
  if (slot) return *slot;
  using dt = dnnl::memory::data_type;
  const dnnl::memory::desc a_md({kFewPanelRows, k}, dt::bf16, dnnl::memory::dims{k, 1});
  const dnnl::memory::desc b_any({k, n}, dt::bf16, dnnl::memory::format_tag::any);
  const dnnl::memory::desc c_md({kFewPanelRows, n}, dt::f32, dnnl::memory::dims{n, 1});
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_any, c_md), attr, Engine());
  const dnnl::memory::desc tokens_md({k, n}, dt::bf16, dnnl::memory::dims{1, k});
  const dnnl::reorder::primitive_desc reorder_pd(Engine(), tokens_md, Engine(), pd.weights_desc());
  slot = std::make_unique<FewTokenProduct>(
      FewTokenProduct{dnnl::matmul(pd), dnnl::reorder(reorder_pd), tokens_md, pd.weights_desc(), pd.scratchpad_desc()});
  return *slot;
}

void FewTokenProductRun(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  const int64_t cols = w.cols, n_panels = (w.rows + kFewPanelRows - 1) / kFewPanelRows;
  OneOpenMpThread();
  const FewTokenProduct& fp = FewTokenProductFor(cols, n_tokens);
  thread_local std::vector<uint8_t> b_bytes;  // B in the primitive's layout
  b_bytes.resize(fp.b_md.get_size());
  {
    dnnl::stream stream(Engine());
    dnnl::memory tokens(fp.tokens_md, Engine(), const_cast<uint16_t*>(TokensToBf16(x, n_tokens, cols)));
    dnnl::memory b(fp.b_md, Engine(), b_bytes.data());
    fp.tokens_to_b.execute(stream, tokens, b);
    stream.wait();
  }
  const uint8_t* b_data = b_bytes.data();
  pool.ParallelFor(static_cast<size_t>(n_panels), 1, [&](size_t begin, size_t end) {
    OneOpenMpThread();
    thread_local std::vector<uint16_t> a_rows;  // [kFewPanelRows, cols]: in L2
    thread_local std::vector<float> c;          // [kFewPanelRows, n_tokens]
    thread_local std::vector<uint8_t> scratch;
    a_rows.resize(static_cast<size_t>(kFewPanelRows * cols));
    c.resize(static_cast<size_t>(kFewPanelRows * n_tokens));
    scratch.resize(fp.scratch_md.get_size());
    dnnl::stream stream(Engine());
    dnnl::memory a(dnnl::memory::desc({kFewPanelRows, cols}, dnnl::memory::data_type::bf16,
                                      dnnl::memory::dims{cols, 1}),
                   Engine(), a_rows.data());
    dnnl::memory b(fp.b_md, Engine(), const_cast<uint8_t*>(b_data));
    dnnl::memory c_mem(dnnl::memory::desc({kFewPanelRows, n_tokens}, dnnl::memory::data_type::f32,
                                          dnnl::memory::dims{n_tokens, 1}),
                       Engine(), c.data());
    dnnl::memory scratch_mem(fp.scratch_md, Engine(), scratch.data());
    for (size_t p = begin; p < end; ++p) {
      const int64_t r0 = static_cast<int64_t>(p) * kFewPanelRows, r1 = std::min(w.rows, r0 + kFewPanelRows);
      WeightRowsToBf16(w, r0, r1, a_rows.data());
      // The last panel's missing rows: zeros, their results unread.
      std::fill(a_rows.begin() + (r1 - r0) * cols, a_rows.end(), uint16_t{0});
      fp.product.execute(stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c_mem},
                                  {DNNL_ARG_SCRATCHPAD, scratch_mem}});
      stream.wait();
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t t = 0; t < n_tokens; ++t) y[t * w.rows + r] = c[static_cast<size_t>((r - r0) * n_tokens + t)];
    }
  });
}

}  // namespace

bool MatMulBf16(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (n_tokens < kBf16MinTokens || !UsesBf16Products(w.type) || !Bf16MatMulAvailable()) return false;
  if (n_tokens < kBf16ManyTokens && w.rows >= kBf16FewMinRows) {
    FewTokenProductRun(w, x, n_tokens, y, pool);
    return true;
  }
  const int64_t panel = PanelRows(w, pool.size(), kPanels);
  if (panel == 0) return false;
  ManyTokenProduct(w, x, n_tokens, y, pool, panel);
  return true;
}

#else  // built without oneDNN: MatMul keeps sgemm and its own tiled path

bool Bf16MatMulAvailable() { return false; }

void SetBf16MatMulEnabled(bool) {}

bool MatMulBf16(const TensorView&, const float*, int64_t, float*, ThreadPool&) { return false; }

#endif

}  // namespace plexus::kernels
