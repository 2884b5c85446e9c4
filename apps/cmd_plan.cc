// plexus plan: where a model's layers and heads should go on a set of
// machines (placement/planner.h), and why; for this machine alone without
// --inventory.
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/sysinfo.h"
#include "base/thread_pool.h"
#include "commands.h"
#include "engine/bench.h"
#include "format/gguf.h"
#include "model/config.h"
#include "placement/planner.h"
#include "cluster/coordinator.h"
#include "cluster_args.h"
#include "engine/live_plan.h"
#include "plan_inventory.h"
#include "server/plan_json.h"

namespace plexus::cli {
namespace {

using placement::NodePlan;
using placement::Plan;

struct PlanArgs {
  std::string model_path;
  std::string inventory_path;
  int64_t ctx = 0;  // 0: the model's context, at most kDefaultCtx
  int64_t sequences = 1;
  double margin_mib = 512;
  std::string kv_type = "f16";
  double efficiency = placement::CostParams{}.membw_efficiency;
  double latency_factor = placement::CostParams{}.allreduce_latency_factor;
  double membw_gbs = 0;  // this machine (no --inventory); 0: measure
  double gflops = 0;     // this machine; 0: unknown
  size_t membw_mib = 256;
  size_t alternatives = 8;
  bool json = false;
  std::string only_split;  // predict this split only
  bool no_ep = false;
  int threads = 0;         // live cluster: threads per process
  ClusterArgs cluster;     // live cluster: --peers or discovery
};

constexpr int64_t kDefaultCtx = 4096;

std::string Bytes(uint64_t bytes) { return placement::FormatBytes(double(bytes)); }


// This machine alone: MemAvailable, measured (or given) read bandwidth.
Result<placement::Inventory> ThisMachine(const PlanArgs& a) {
  const MemoryInfo mem = ReadMemoryInfo();
  placement::Node node;
  node.name = HostName().empty() ? "this-machine" : HostName();
  node.memory_bytes = mem.available > 0 ? mem.available : mem.total;
  if (node.memory_bytes == 0) return Status::Errorf("plan", "cannot read this machine's memory from /proc/meminfo");
  node.membw_gbs = a.membw_gbs;
  if (node.membw_gbs <= 0) {
    ThreadPool pool(0);
    node.membw_gbs = MeasureReadBandwidth(pool, a.membw_mib);
  }
  if (!(node.membw_gbs > 0)) return Status::Errorf("plan", "could not measure read bandwidth: pass --membw-gbs");
  node.gflops = a.gflops;
  return placement::Inventory{{node}, {}};
}

std::string ToJson(const PlanArgs& a, const placement::ModelShape& shape, const placement::Request& req,
                   const placement::Placement& out, const placement::Inventory& inventory) {
  nlohmann::ordered_json j;
  j["model"] = {{"path", a.model_path}, {"n_layers", shape.n_layers}, {"weight_bytes", shape.weight_bytes()}};
  if (shape.is_moe()) j["model"]["n_experts"] = shape.n_experts;
  j["request"] = {{"ctx", req.context_tokens}, {"sequences", req.sequences}, {"margin_bytes", req.margin_bytes}};
  const nlohmann::ordered_json placed = server::PlacementJson(out);  // kept alive: items() refers to it
  for (const auto& [key, value] : placed.items()) j[key] = value;
  j["inventory"] = server::InventoryJson(inventory);
  return j.dump(2);
}

void PrintText(const PlanArgs& a, const placement::ModelShape& shape, const placement::Request& req,
               const placement::Placement& out) {
  const Plan& p = out.best;
  fmt::print("model {}: {} layers, {} of weights; context {} x {} sequence(s), margin {} per node\n\n", a.model_path,
             shape.n_layers, Bytes(uint64_t(shape.weight_bytes())), req.context_tokens, req.sequences,
             Bytes(req.margin_bytes));
  fmt::print("plan: {} on {}: {:.2f} tokens/s predicted ({:.2f} ms per token)\n", p.Split(), p.Groups(),
             p.tokens_per_s(), p.token_s * 1e3);
  if (!p.RunFlags().empty()) fmt::print("flags: {} (peers in rank order after rank 0)\n", p.RunFlags());
  fmt::print("\n  {:>4}  {:<16} {:>5} {:>3}  {:<9} {:>6}  {:<9}  {:>11} {:>11} {:>11}  {:>11}\n", "rank", "node",
             "stage", "tp", "layers", "share", "heads", "weights", "kv", "total", "usable");
  for (const NodePlan& np : p.nodes)
    fmt::print("  {:>4}  {:<16} {:>5} {:>3}  {:<9} {:>6.3f}  {:<9}  {:>11} {:>11} {:>11}  {:>11}\n", np.rank, np.name,
               np.stage, np.tp_rank, fmt::format("{}-{}", np.layers.begin, np.layers.end - 1), np.share,
               fmt::format("{}-{}", np.heads.begin, np.heads.end - 1), Bytes(np.weight_bytes), Bytes(np.kv_bytes),
               Bytes(np.memory_bytes()), Bytes(np.usable_bytes));
  fmt::print("\nwhy:\n");
  for (const std::string& r : p.reasons) fmt::print("  - {}\n", r);
  if (out.alternatives.empty()) return;
  fmt::print("\nrunner-ups:\n");
  for (size_t i = 0; i < out.alternatives.size(); ++i)
    fmt::print("  {}. {} on {}: {}\n", i + 1, out.alternatives[i].plan.Split(), out.alternatives[i].plan.Groups(),
               out.alternatives[i].why);
}

bool LiveCluster(const PlanArgs& a) {
  return !a.cluster.peers.empty() || (!a.cluster.secret_file.empty() && !a.cluster.no_discovery);
}

// The live cluster: the nodes take a provisional job (--split, default tpN)
// so that they report their inventory and their links are measured, as
// `plexus serve` does before it plans; then the job ends.
Result<placement::Placement> PlanLiveCluster(const PlanArgs& a, const GgufFile& file, const ModelConfig& config,
                                             const placement::Request& req, const placement::CostParams& cost,
                                             placement::Inventory* inventory) {
  PLEXUS_ASSIGN_OR_RETURN(std::optional<cluster::ClusterOptions> options, BuildClusterOptions(a.cluster));
  if (!options) return Status::Errorf("plan", "discovery found no nodes: pass --peers, or plan with --inventory");
  ModelOptions model_options;
  model_options.max_context = req.context_tokens;
  model_options.kv_type = *ParseKvType(a.kv_type);
  model_options.weight_load = WeightLoad::kMap;  // a provisional job that decodes nothing: no copy
  PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<cluster::Coordinator> coordinator,
                          cluster::Coordinator::Start(a.model_path, *options, model_options, a.threads));
  std::map<std::string, KnownNode> known;
  std::vector<std::string> names;
  for (const ShardView& v : coordinator->Describe().shards) {
    known[v.name] = KnownNode{v};
    names.push_back(v.name);
  }
  coordinator.reset();  // the nodes go back to waiting for a job
  LivePlanOptions o;
  o.context_tokens = req.context_tokens;
  o.sequences = req.sequences;
  o.margin_bytes = req.margin_bytes;
  o.threads = a.threads;
  o.membw_gbs = a.membw_gbs;
  o.allow_ep = !a.no_ep;
  o.cost = cost;
  MeasureBandwidth(o);
  PLEXUS_ASSIGN_OR_RETURN(*inventory, LiveInventory(names, known, o));
  PLEXUS_ASSIGN_OR_RETURN(placement::ModelShape shape, placement::ShapeFromGguf(file, config, *ParseKvType(a.kv_type)));
  placement::SearchOptions search;
  search.max_alternatives = a.alternatives;
  search.first_node = 0;  // a coordinator is rank 0
  search.allow_ep = !a.no_ep;
  search.only_split = a.only_split;
  return placement::PlanPlacement(shape, *inventory, req, cost, search);
}

Status RunPlan(const PlanArgs& a) {
  PLEXUS_ASSIGN_OR_RETURN(auto file, GgufFile::Open(a.model_path));
  PLEXUS_ASSIGN_OR_RETURN(ModelConfig config, ReadModelConfig(*file));
  PLEXUS_ASSIGN_OR_RETURN(placement::ModelShape shape,
                          placement::ShapeFromGguf(*file, config, *ParseKvType(a.kv_type)));
  placement::Request req;
  req.context_tokens = a.ctx > 0 ? a.ctx : std::min(config.context_length, kDefaultCtx);
  if (req.context_tokens > config.context_length)
    return Status::Errorf("plan", "--ctx {} exceeds the model's context length {}", a.ctx, config.context_length);
  req.sequences = a.sequences;
  if (!(a.margin_mib >= 0)) return Status::Errorf("plan", "--margin-mib {} must be non-negative", a.margin_mib);
  req.margin_bytes = static_cast<uint64_t>(a.margin_mib * (1 << 20));
  placement::CostParams cost;
  cost.membw_efficiency = a.efficiency;
  cost.allreduce_latency_factor = a.latency_factor;
  placement::Inventory inventory;
  placement::Placement out;
  if (!a.inventory_path.empty() && LiveCluster(a))
    return Status::Errorf("plan", "--inventory and --peers (or --secret-file) both name the nodes: pass one");
  if (LiveCluster(a)) {
    PLEXUS_ASSIGN_OR_RETURN(out, PlanLiveCluster(a, *file, config, req, cost, &inventory));
  } else {
    if (!a.inventory_path.empty()) {
      PLEXUS_ASSIGN_OR_RETURN(inventory, ReadInventory(a.inventory_path));
    } else {
      PLEXUS_ASSIGN_OR_RETURN(inventory, ThisMachine(a));
    }
    placement::SearchOptions search;
    search.max_alternatives = a.alternatives;
    search.allow_ep = !a.no_ep;
    search.only_split = a.only_split;
    PLEXUS_ASSIGN_OR_RETURN(out, placement::PlanPlacement(shape, inventory, req, cost, search));
  }
  if (a.json)
    fmt::print("{}\n", ToJson(a, shape, req, out, inventory));
  else
    PrintText(a, shape, req, out);
  return Status::Ok();
}

}  // namespace

Runner AddPlan(CLI::App& app) {
  auto args = std::make_shared<PlanArgs>();
  CLI::App* cmd = app.add_subcommand("plan", "Plan where a model's layers and heads go on a set of machines");
  cmd->add_option("-m,--model", args->model_path, "GGUF model file")->required();
  cmd->add_option("--inventory", args->inventory_path,
                  "JSON file of nodes and links (docs/PLACEMENT.md); without it, the live cluster of --peers or "
                  "discovery (--secret-file), else this machine alone");
  cmd->add_option("--ctx", args->ctx, "Context length to hold KV cache for (default: the model's, at most 4096)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seqs", args->sequences, "Sequences whose KV caches are held at once")->check(CLI::PositiveNumber);
  cmd->add_option("--margin-mib", args->margin_mib, "Memory kept free on every node, MiB");
  cmd->add_option("--kv-type", args->kv_type, "KV cache type")->check(CLI::IsMember({"f16", "f32"}));
  cmd->add_option("--efficiency", args->efficiency, "Fraction of the read bandwidth decode reaches")
      ->check(CLI::Range(0.01, 1.0));
  cmd->add_option("--latency-factor", args->latency_factor,
                  "One-way latencies one all-reduce waits for (1: the ideal one-shot exchange)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--membw-gbs", args->membw_gbs, "This machine's read bandwidth in GB/s (default: measure it)");
  cmd->add_option("--membw-mib", args->membw_mib, "Array size of the bandwidth measurement, MiB");
  cmd->add_option("--gflops", args->gflops, "This machine's decode GFLOP/s (default: unknown, bandwidth only)");
  cmd->add_option("--alternatives", args->alternatives, "Runner-ups to list");
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->add_option("--only-split", args->only_split,
                  "Plan only this split (tp2, pp2, tp2xpp2, ep4, tp2xep2, 1): its prediction, for comparing with a "
                  "measurement");
  cmd->add_flag("--no-ep", args->no_ep, "Leave expert-parallel plans out (MoE models)");
  cmd->add_option("-t,--threads", args->threads, "Live cluster: threads per process (0: all cores)")
      ->check(CLI::Range(0, 1024));
  // The live cluster: the nodes `plexus serve` would use (without --inventory).
  AddClusterOptions(cmd, args->cluster);
  return [args] {
    const Status st = RunPlan(*args);
    if (st.ok()) return 0;
    fmt::print(stderr, "plexus plan: {}\n", st.message());
    return 1;
  };
}

}  // namespace plexus::cli
