#include "kernels/matmul_blas.h"

#include <atomic>

#include <algorithm>
#include <vector>

#include "base/env_flag.h"
#include "kernels/ops.h"
#include "kernels/panels.h"

#ifdef PLEXUS_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace plexus::kernels {

int64_t BlasMinTokens(DType type) {
  return IsPlainFloat(type) ? kBlasMinTokensFloat : kBlasMinTokens;
}

#ifdef PLEXUS_HAVE_OPENBLAS

namespace {

// Panels hold 256 rows or more, all of one size: up to 1024 while each
// thread still gets two panels, never more than 16 MiB of decoded floats
// per thread (panels.h). On the AVX2 Zen 1 machine kind
// OpenBLAS 0.3.21's sgemm ran 3-4x slower with panels of 320 rows or fewer
// (1 thread, 2048 columns, 512 tokens), so the minimum was 512 rows there.
// On the AVX-512 kind (its SKYLAKEX kernels) a minimum of 256 measured
// better end to end: 512-row K/V projections and 768-row expert matrices
// then take sgemm (two or three panels) instead of the own MatMul, pp512
// +3-14% (1B Q4_0, Q8_0, Q4_K_M and Qwen3-30B-A3B-shaped Q4_0, alternating
// builds in one run; 128 was no better than 256).
// Every thread gets a panel, or sgemm would not pay.
constexpr PanelLimits kPanels = {.min_rows = 256, .max_rows = 1024, .max_elems = int64_t{4} << 20, .every_thread = true};

}  // namespace

std::atomic<bool> g_blas_enabled{true};

bool BlasAvailable() {
  static const bool available = [] {
    if (!EnvFlag("PLEXUS_BLAS", true)) return false;
    // plexus's pool owns the threads: each worker calls a single-threaded sgemm.
    openblas_set_num_threads(1);
    return true;
  }();
  return available && g_blas_enabled.load(std::memory_order_relaxed);
}

void SetBlasMatMulEnabled(bool enabled) { g_blas_enabled.store(enabled, std::memory_order_relaxed); }

bool MatMulBlas(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (n_tokens < BlasMinTokens(w.type) || !BlasAvailable()) return false;
  const int64_t cols = w.cols, panel = PanelRows(w, pool.size(), kPanels);
  if (panel == 0) return false;
  const int64_t n_panels = (w.rows + panel - 1) / panel;
  // F32 rows packed back to back are sgemm's B as they are.
  const bool in_place = w.type == DType::kF32 && w.row_bytes == static_cast<size_t>(cols) * sizeof(float);
  pool.ParallelFor(static_cast<size_t>(n_panels), 1, [&](size_t begin, size_t end) {
    thread_local std::vector<float> decoded;  // [panel rows, cols]
    for (size_t p = begin; p < end; ++p) {
      const int64_t r0 = static_cast<int64_t>(p) * panel, r1 = std::min(w.rows, r0 + panel);
      const float* rows = reinterpret_cast<const float*>(w.row(r0));
      if (!in_place) {
        decoded.resize(static_cast<size_t>((r1 - r0) * cols));
        WeightRowsToFloat(w, r0, r1, decoded.data());
        rows = decoded.data();
      }
      // y[:, r0..r1) = x [n_tokens, cols] * rows[r1 - r0, cols]^T, rows of y w.rows apart.
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n_tokens), static_cast<int>(r1 - r0),
                  static_cast<int>(cols), 1.0f, x, static_cast<int>(cols), rows, static_cast<int>(cols), 0.0f, y + r0,
                  static_cast<int>(w.rows));
    }
  });
  return true;
}

#else  // built without OpenBLAS: MatMul keeps its own tiled path

bool BlasAvailable() { return false; }

void SetBlasMatMulEnabled(bool) {}

bool MatMulBlas(const TensorView&, const float*, int64_t, float*, ThreadPool&) { return false; }

#endif

}  // namespace plexus::kernels
