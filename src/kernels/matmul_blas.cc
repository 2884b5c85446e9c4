#include "kernels/matmul_blas.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/ops.h"

#ifdef PLEXUS_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace plexus::kernels {

#ifdef PLEXUS_HAVE_OPENBLAS

namespace {

// A panel's decoded rows stay within 2 MiB of floats (L2/L3-sized: sgemm
// streams the panel once per block of tokens).
constexpr int64_t kPanelFloats = int64_t{1} << 19;
constexpr int64_t kMaxPanelRows = 256, kMinPanelRows = 16;

// Rows per panel: at most kPanelFloats of them, and at least two panels per
// thread so a slow thread does not hold up the rest.
int64_t PanelRows(const TensorView& w, int threads) {
  const int64_t by_size = std::max<int64_t>(1, kPanelFloats / std::max<int64_t>(1, w.cols));
  const int64_t by_threads = (w.rows + 2 * threads - 1) / (2 * threads);
  return std::clamp(std::min({by_size, by_threads, kMaxPanelRows}), std::min(kMinPanelRows, w.rows), w.rows);
}

}  // namespace

bool BlasAvailable() {
  static const bool available = [] {
    const char* env = std::getenv("PLEXUS_BLAS");
    if (env != nullptr && std::strcmp(env, "0") == 0) return false;
    // plexus's pool owns the threads: each worker calls a single-threaded sgemm.
    openblas_set_num_threads(1);
    return true;
  }();
  return available;
}

bool MatMulBlas(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (n_tokens < kBlasMinTokens || w.rows == 0 || !BlasAvailable()) return false;
  const int64_t cols = w.cols, panel = PanelRows(w, pool.size());
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
        DecodeRows(w, r0, r1, decoded.data());
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

bool MatMulBlas(const TensorView&, const float*, int64_t, float*, ThreadPool&) { return false; }

#endif

}  // namespace plexus::kernels
