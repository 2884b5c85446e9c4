#include "kernels/matmul_bf16.h"

#include <algorithm>
#include <atomic>
#include <cstring>
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

bool MatMulBf16(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (n_tokens < kBf16MinTokens || !UsesBf16Products(w.type) || !Bf16MatMulAvailable()) return false;
  const int64_t cols = w.cols, panel = PanelRows(w, pool.size(), kPanels);
  if (panel == 0) return false;
  const int64_t n_panels = (w.rows + panel - 1) / panel;
  // The activations once, on the calling thread: [n_tokens, cols] bf16.
  thread_local std::vector<uint16_t> x_bf16;
  x_bf16.resize(static_cast<size_t>(n_tokens * cols));
  FloatToBf16(x, x_bf16.data(), n_tokens * cols);
  const uint16_t* xb = x_bf16.data();
  // bf16 rows packed back to back are the weights as they are.
  const bool in_place = w.type == DType::kBF16 && w.row_bytes == static_cast<size_t>(cols) * sizeof(uint16_t);
  pool.ParallelFor(static_cast<size_t>(n_panels), 1, [&](size_t begin, size_t end) {
    // The pool owns the threads: each runs oneDNN on one OpenMP thread.
    thread_local const bool one_thread = (omp_set_num_threads(1), true);
    (void)one_thread;
    thread_local std::vector<float> decoded;       // [cols]: one row, in L1/L2
    thread_local std::vector<uint16_t> rows_bf16;  // [panel rows, cols]
    for (size_t p = begin; p < end; ++p) {
      const int64_t r0 = static_cast<int64_t>(p) * panel, r1 = std::min(w.rows, r0 + panel);
      const auto* rows = reinterpret_cast<const uint16_t*>(w.row(r0));
      if (!in_place) {
        decoded.resize(static_cast<size_t>(cols));
        rows_bf16.resize(static_cast<size_t>((r1 - r0) * cols));
        for (int64_t r = r0; r < r1; ++r) {
          WeightRowsToFloat(w, r, r + 1, decoded.data());
          FloatToBf16(decoded.data(), rows_bf16.data() + (r - r0) * cols, cols);
        }
        rows = rows_bf16.data();
      }
      Bf16Gemm(xb, rows, n_tokens, r1 - r0, cols, y + r0, w.rows);
    }
  });
  return true;
}

#else  // built without oneDNN: MatMul keeps sgemm and its own tiled path

bool Bf16MatMulAvailable() { return false; }

void SetBf16MatMulEnabled(bool) {}

bool MatMulBf16(const TensorView&, const float*, int64_t, float*, ThreadPool&) { return false; }

#endif

}  // namespace plexus::kernels
