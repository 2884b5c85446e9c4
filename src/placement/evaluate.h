// Turns one arrangement of nodes (which node is which rank) into a complete
// plan: TP shares, layers per stage, realised head and FFN ranges, memory per
// node and the predicted time per token. The search calls this for every
// arrangement it tries.
#pragma once

#include <optional>
#include <vector>

#include "placement/cost.h"
#include "placement/planner.h"

namespace plexus::placement {

// Stages in pipeline order, each the node indices of its TP group in TP-rank
// order; every stage has the same number of ranks (Split has one tp).
using Layout = std::vector<std::vector<size_t>>;

class Evaluator {
 public:
  Evaluator(const ModelShape& shape, const Inventory& inventory, const Request& request, const CostParams& cost,
            const SearchOptions& search);

  // nullopt when the layout cannot run at all: a pair it needs is
  // unreachable, or the model cannot be split that many ways.
  std::optional<Plan> Evaluate(const Layout& layout) const;
  // Expert parallelism on one stage (MoE models): `groups` are the attention
  // TP groups (all the same size A; A = 1 is "epN"), rank = group * A + i.
  // Attention, dense FFN and LM head split evenly within a group; whole
  // experts go to every rank in proportion to the memory left for them.
  std::optional<Plan> EvaluateEp(const Layout& groups) const;

  // Seconds a node takes per byte of weights it reads: the bandwidth bound,
  // or the compute bound when gflops is known and slower (alone on its host).
  double SecondsPerByte(size_t node) const { return seconds_per_byte_[node]; }
  // The same for nodes that compute at once (one stage): nodes on one host
  // share its bandwidth, and its cores when threads and cores are known.
  // `core_factor` (per node, >= 1) is how much slower oversubscribed cores make it.
  std::vector<double> ConcurrentSecondsPerByte(const std::vector<size_t>& group,
                                               std::vector<double>* core_factor = nullptr) const;
  const Inventory& inventory() const { return inventory_; }
  const LinkTable& links() const { return links_; }
  const ModelShape& shape() const { return shape_; }
  const Request& request() const { return request_; }
  const CostParams& cost() const { return cost_; }

 private:
  struct Fractions {
    double head = 0, kv = 0, ffn = 0, vocab = 0, experts = 0;
  };
  struct Split {  // shares [stage][tp_rank], layers [stage]
    std::vector<std::vector<double>> shares;
    std::vector<int64_t> layers;
  };
  struct Comm {  // per stage: the TP group's slowest link, the hop after it
    std::vector<LinkCost> group;
    std::vector<double> hop_s;
    std::vector<std::vector<double>> spb, core_factor;  // [stage][tp_rank]: ConcurrentSecondsPerByte
  };

  std::optional<Comm> Communication(const Layout& layout) const;
  Split Distribute(const Layout& layout, const Comm& comm, const std::vector<std::vector<double>>& reserve) const;
  void FillStageShares(const Layout& layout, const Comm& comm, const std::vector<int64_t>& layers,
                       const std::vector<std::vector<double>>& reserve, Split& split) const;
  std::vector<double> LayerTargets(const Layout& layout, const Comm& comm, const Split& split) const;
  std::vector<int64_t> LayerCaps(const Layout& layout, const Split& split,
                                 const std::vector<std::vector<double>>& reserve) const;
  std::optional<Plan> Realize(const Layout& layout, const Comm& comm, const Split& split) const;
  void Time(const Layout& layout, const Comm& comm, Plan& plan) const;
  static void CheckFit(Plan& plan);
  double ComputeSeconds(size_t node, double spb, double core_factor, bool first, bool last, int64_t layers,
                        const Fractions& f) const;
  Fractions FractionsOf(const NodePlan& np) const;
  bool EpRanks(const std::vector<size_t>& all, size_t a, Plan& plan, std::vector<double>& room) const;
  std::vector<int64_t> ExpertCounts(const std::vector<double>& room) const;

  double WeightBytes(bool first, bool last, int64_t layers, const Fractions& f) const;
  double KvBytes(int64_t layers, double kv_fraction) const;
  double ReadBytes(bool first, bool last, int64_t layers, const Fractions& f) const;
  double Flops(bool last, int64_t layers, const Fractions& f) const;
  // Memory left for shards on a node once the margin and reserve are taken.
  double Room(size_t node, double reserve) const;

  const ModelShape shape_;
  const Inventory inventory_;
  const Request request_;
  const CostParams cost_;
  const SearchOptions search_;
  const LinkTable links_;
  const ModelConfig config_;
  std::vector<double> seconds_per_byte_;  // [node]
};

}  // namespace plexus::placement
