// Axpy (y += a * x): the weighted sums of attention over a latent cache
// (mla_ops.cc). Its scalar twin is in ops_scalar.cc; the tail past the last
// whole vector runs lane by lane.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/axpy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/ops.h"

HWY_BEFORE_NAMESPACE();
namespace plexus::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void AxpyImpl(float a, const float* x, float* y, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto va = hn::Set(d, a);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {  // two independent chains per step
    const auto y0 = hn::MulAdd(va, hn::LoadU(d, x + i), hn::LoadU(d, y + i));
    const auto y1 = hn::MulAdd(va, hn::LoadU(d, x + i + N), hn::LoadU(d, y + i + N));
    hn::StoreU(y0, d, y + i);
    hn::StoreU(y1, d, y + i + N);
  }
  for (; i + N <= n; i += N) hn::StoreU(hn::MulAdd(va, hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  for (; i < n; ++i) y[i] += a * x[i];
}

}  // namespace plexus::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace plexus::kernels {

HWY_EXPORT(AxpyImpl);

void Axpy(float a, const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(AxpyImpl)(a, x, y, n); }

}  // namespace plexus::kernels
#endif  // HWY_ONCE
