// How the panel products (matmul_blas.cc, matmul_bf16.cc) cut a matrix into
// panels of rows: each pool thread decodes a panel and multiplies it with
// every token in one library call.
#pragma once

#include <algorithm>
#include <cstdint>

#include "tensor/tensor_view.h"

namespace plexus::kernels {

struct PanelLimits {
  int64_t min_rows;   // rows per panel, at least
  int64_t max_rows;   // rows per panel, at most
  int64_t max_elems;  // decoded elements of one panel, at most
  bool every_thread;  // none unless every thread gets a panel
};

// Rows per panel of w on `threads` threads, all panels one size: from
// min_rows up to max_rows while each thread still gets two. 0 (no panels)
// when w has fewer than min_rows rows, when min_rows of its rows exceed
// max_elems, or (every_thread) when there are fewer panels than threads.
inline int64_t PanelRows(const TensorView& w, int threads, const PanelLimits& limits) {
  if (w.rows < limits.min_rows || w.cols * limits.min_rows > limits.max_elems) return 0;
  const int64_t widest = std::min(limits.max_rows, limits.max_elems / w.cols);
  const int64_t target = std::clamp<int64_t>(w.rows / (2 * int64_t{threads}), limits.min_rows, widest);
  const int64_t n_panels = std::max<int64_t>(1, w.rows / target);
  if (limits.every_thread && n_panels < threads) return 0;
  return (w.rows + n_panels - 1) / n_panels;
}

}  // namespace plexus::kernels
