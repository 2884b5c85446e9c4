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
#include "plan_inventory.h"

namespace plexus::cli {
namespace {

using placement::Alternative;
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
};

constexpr int64_t kDefaultCtx = 4096;

std::string Bytes(uint64_t bytes) { return placement::FormatBytes(double(bytes)); }

// Inclusive [first, last], as the JSON gives ranges.
nlohmann::json Inclusive(const Range& r) { return nlohmann::json::array({r.begin, r.end - 1}); }

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

nlohmann::ordered_json NodeJson(const NodePlan& np) {
  nlohmann::ordered_json j;
  j["name"] = np.name;
  j["rank"] = np.rank;
  j["stage"] = np.stage;
  j["tp_rank"] = np.tp_rank;
  j["layers"] = Inclusive(np.layers);
  j["share"] = np.share;
  j["heads"] = Inclusive(np.heads);
  j["kv_heads"] = Inclusive(np.kv_heads);
  j["ffn_rows"] = Inclusive(np.ffn);
  j["vocab_rows"] = Inclusive(np.vocab);
  j["memory"] = {{"weights", np.weight_bytes},
                 {"kv", np.kv_bytes},
                 {"margin", np.margin_bytes},
                 {"total", np.memory_bytes()},
                 {"usable", np.usable_bytes}};
  j["compute_ms"] = np.compute_s * 1e3;
  return j;
}

// Fills `j` (an object, maybe holding keys already) with the plan.
void PlanJson(const Plan& p, nlohmann::ordered_json& j) {
  j["split"] = p.Split();
  j["tp"] = p.tp;
  j["pp"] = p.pp;
  j["ep"] = p.ep;
  j["fits"] = p.fits;
  j["predicted_tps"] = p.tokens_per_s();
  j["token_ms"] = p.token_s * 1e3;
  j["run_flags"] = p.RunFlags();
  j["nodes"] = nlohmann::ordered_json::array();
  for (const NodePlan& np : p.nodes) j["nodes"].push_back(NodeJson(np));
  j["stages"] = nlohmann::ordered_json::array();
  for (const placement::StageTime& st : p.stages)
    j["stages"].push_back({{"compute_ms", st.compute_s * 1e3},
                           {"allreduce_ms", st.allreduce_s * 1e3},
                           {"gather_ms", st.gather_s * 1e3},
                           {"hop_ms", st.hop_s * 1e3}});
  if (!p.fits) j["short"] = {{"node", p.short_node}, {"bytes", p.short_bytes}};
}

std::string ToJson(const PlanArgs& a, const placement::ModelShape& shape, const placement::Request& req,
                   const placement::Placement& out) {
  nlohmann::ordered_json j;
  j["model"] = {{"path", a.model_path}, {"n_layers", shape.n_layers}, {"weight_bytes", shape.weight_bytes()}};
  j["request"] = {{"ctx", req.context_tokens}, {"sequences", req.sequences}, {"margin_bytes", req.margin_bytes}};
  PlanJson(out.best, j);
  j["reasons"] = out.best.reasons;
  j["alternatives"] = nlohmann::ordered_json::array();
  for (const Alternative& alt : out.alternatives) {
    nlohmann::ordered_json aj;
    PlanJson(alt.plan, aj);
    aj["why"] = alt.why;
    j["alternatives"].push_back(aj);
  }
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
  placement::Inventory inventory;
  if (!a.inventory_path.empty()) {
    PLEXUS_ASSIGN_OR_RETURN(inventory, ReadInventory(a.inventory_path));
  } else {
    PLEXUS_ASSIGN_OR_RETURN(inventory, ThisMachine(a));
  }
  placement::CostParams cost;
  cost.membw_efficiency = a.efficiency;
  cost.allreduce_latency_factor = a.latency_factor;
  placement::SearchOptions search;
  search.max_alternatives = a.alternatives;
  PLEXUS_ASSIGN_OR_RETURN(placement::Placement out, placement::PlanPlacement(shape, inventory, req, cost, search));
  if (a.json)
    fmt::print("{}\n", ToJson(a, shape, req, out));
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
                  "JSON file of nodes and links (docs/PLACEMENT.md); without it, this machine alone");
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
  return [args] {
    const Status st = RunPlan(*args);
    if (st.ok()) return 0;
    fmt::print(stderr, "plexus plan: {}\n", st.message());
    return 1;
  };
}

}  // namespace plexus::cli
