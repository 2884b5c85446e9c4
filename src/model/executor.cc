#include "model/executor.h"

#include "base/sysinfo.h"
#include "kernels/ops.h"

namespace plexus {

ClusterView LocalExecutor::Describe() const {
  ShardView v;
  v.rank = 0;
  v.name = "local";
  v.role = "coordinator";
  v.hostname = HostName();
  v.shard = model_->shard();
  v.weight_bytes = model_->weights().MatrixBytes();
  const MemoryInfo mem = ReadMemoryInfo();
  v.mem_total = mem.total;
  v.mem_available = mem.available;
  v.rss = ResidentBytes();
  v.cores = OnlineCores();
  v.simd = kernels::BestTargetName();
  v.gpus = NvidiaGpus();  // one process measures no speed (membw_gbs, gflops stay 0)
  return ClusterView{"1", {v}};
}

}  // namespace plexus
