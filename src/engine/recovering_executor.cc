#include "engine/recovering_executor.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "base/sysinfo.h"
#include "cluster/intake.h"
#include "cluster/plan.h"
#include "model/weight_ranges.h"

namespace plexus {
namespace {

using Clock = std::chrono::steady_clock;

// Re-placements in a row without one good step in between: past this a step
// that breaks every placement (not a lost node) fails its requests instead
// of looping.
constexpr int kMaxReplacementsInRow = 2;
// Starts tried per re-placement: a node that answered the probe may die
// before its job arrives; the second try probes again without it.
constexpr int kStartAttempts = 2;

std::string SplitName(const cluster::Split& s) { return s.Name(); }

std::string Join(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& s : items) text += (text.empty() ? "" : ", ") + s;
  return text;
}

double GiB(uint64_t bytes) { return static_cast<double>(bytes) / (1 << 30); }

}  // namespace

std::string Replacement::Summary() const {
  const std::string who = lost.empty() ? std::string("no node lost")
                                       : fmt::format("node{} {} lost", lost.size() == 1 ? "" : "s", Join(lost));
  const std::string planned =
      predicted_tps > 0 ? fmt::format(" (planned: {:.2f} tokens/s predicted)", predicted_tps) : std::string();
  return fmt::format("{}; re-placed on {} rank{} (split {}) in {:.1f} s{}", who, ranks, ranks == 1 ? "" : "s", split,
                     seconds, planned);
}

Result<std::unique_ptr<RecoveringExecutor>> RecoveringExecutor::Start(RecoveryOptions options) {
  std::unique_ptr<RecoveringExecutor> r(new RecoveringExecutor(std::move(options)));
  PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> opened, GgufFile::Open(r->opt_.model_path));
  r->file_ = std::move(opened);
  cluster::Split first = r->opt_.cluster.split;
  if (r->opt_.plan) {
    PLEXUS_ASSIGN_OR_RETURN(first, r->ProvisionalSplit());
  }
  PLEXUS_RETURN_IF_ERROR(r->StartOn(first, r->opt_.cluster.peers));
  r->considered_ = r->opt_.cluster.peers;
  // Copied: the coordinator that holds them is replaced, callers keep references.
  r->config_ = r->coordinator_->config();
  r->max_context_ = r->coordinator_->max_context();
  if (r->opt_.plan) {
    // The first placement was provisional: the nodes have reported what
    // they have and their links are measured; now place the model for real.
    LivePlanOptions& o = r->opt_.plan_options;
    if (o.context_tokens <= 0) o.context_tokens = r->max_context_;
    o.threads = r->opt_.threads;
    MeasureBandwidth(o);
    r->Log(fmt::format("planning for the cluster: this machine reads {:.1f} GB/s with {} thread(s), {:.1f} GB/s "
                       "with all cores; context {}",
                       o.membw_gbs, o.threads, o.host_membw_gbs, o.context_tokens));
    if (Status planned = r->StartPlanned(r->peers_); !planned.ok()) {
      if (!r->coordinator_) return planned;  // the planned job failed to start
      // No plan (e.g. the planner's margins do not fit): what runs, runs.
      r->Log(fmt::format("planning failed: {}; serving the provisional split {}", planned.message(),
                         SplitName(r->split_)));
    }
  }
  return r;
}

RecoveringExecutor::~RecoveringExecutor() = default;

void RecoveringExecutor::Log(const std::string& line) const {
  if (opt_.log) opt_.log(line);
  else std::fprintf(stderr, "plexus: %s\n", line.c_str());
}

Status RecoveringExecutor::Forward(std::span<const BatchEntry> batch, std::vector<float>* logits) {
  if (!coordinator_)
    return down_.WithContext("[cluster] no placement (POST /v1/cluster/replan once nodes are back)");
  Status st = coordinator_->Forward(batch, logits);
  if (st.ok()) {
    failed_in_row_ = 0;
    return st;
  }
  if (!coordinator_->broken()) return st;  // the batch was refused before any rank ran it
  if (failed_in_row_ >= kMaxReplacementsInRow)
    return st.WithContext(fmt::format("[cluster] the step failed on {} placements in a row", failed_in_row_ + 1));
  ++failed_in_row_;
  Log(fmt::format("cluster step failed: {}; re-placing the model", st.message()));
  Result<Replacement> replaced = Replace();
  if (!replaced.ok()) return replaced.status();
  return Status::Error(replaced->Summary());
}

void RecoveringExecutor::DropSequence(int32_t seq) {
  if (coordinator_) coordinator_->DropSequence(seq);
}

ClusterView RecoveringExecutor::Describe() const {
  std::lock_guard lock(mu_);
  return coordinator_ ? coordinator_->Describe() : last_view_;
}

std::optional<LivePlan> RecoveringExecutor::plan() const {
  std::lock_guard lock(mu_);
  return plan_;
}

Status RecoveringExecutor::StartOn(const cluster::Split& split, const std::vector<std::string>& peers) {
  cluster::ClusterOptions options = opt_.cluster;
  options.split = split;
  options.peers = peers;
  PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<cluster::Coordinator> started,
                          cluster::Coordinator::Start(opt_.model_path, options, opt_.model_options, opt_.threads));
  const ClusterView view = started->Describe();
  for (const ShardView& v : view.shards) known_[v.name] = KnownNode{v};
  {
    std::lock_guard lock(mu_);
    coordinator_ = std::move(started);
    plan_.reset();
  }
  peers_ = peers;
  split_ = split;
  return Status::Ok();
}

bool RecoveringExecutor::AllKnown(const std::vector<std::string>& alive) const {
  if (!known_.contains("local")) return false;
  return std::all_of(alive.begin(), alive.end(), [&](const std::string& n) { return known_.contains(n); });
}

bool RecoveringExecutor::SameShards(const cluster::Split& a, const cluster::Split& b) const {
  if (a.world() != b.world() || a.tp != b.tp) return false;
  for (int rank = 0; rank < a.world(); ++rank) {
    auto x = cluster::ShardForRank(*file_, config_, a, rank), y = cluster::ShardForRank(*file_, config_, b, rank);
    if (!x.ok() || !y.ok() || x->Describe() != y->Describe()) return false;
  }
  return true;
}

Status RecoveringExecutor::StartPlanned(const std::vector<std::string>& alive) {
  std::vector<std::string> names = {"local"};
  names.insert(names.end(), alive.begin(), alive.end());
  LivePlanOptions o = opt_.plan_options;
  o.allow_ep = o.allow_ep && EngineRunsExpertParallel();
  PLEXUS_ASSIGN_OR_RETURN(LivePlan plan, PlanLive(*file_, config_, names, known_, o));
  const placement::Plan& best = plan.placement.best;
  Log(fmt::format("plan: {} on {}: {:.2f} tokens/s predicted ({}){}", best.Split(), best.Groups(),
                  best.tokens_per_s(), best.RunFlags().empty() ? "one process" : best.RunFlags(),
                  o.allow_ep || !config_.is_moe() ? "" : "; expert-parallel plans left out (the engine has no epN)"));
  for (size_t i = 0; i < plan.placement.alternatives.size() && i < 3; ++i)
    Log(fmt::format("  runner-up {} on {}: {}", plan.placement.alternatives[i].plan.Split(),
                    plan.placement.alternatives[i].plan.Groups(), plan.placement.alternatives[i].why));
  if (!coordinator_ || plan.peers != peers_ || !SameShards(plan.split, split_)) {
    std::unique_ptr<cluster::Coordinator> old;
    {
      std::lock_guard lock(mu_);
      if (coordinator_) last_view_ = coordinator_->Describe();
      old = std::move(coordinator_);
    }
    old.reset();  // the nodes leave the provisional job before they get the planned one
    PLEXUS_RETURN_IF_ERROR(StartOn(plan.split, plan.peers).WithContext("[cluster] starting the planned " + best.Split()));
  }
  std::lock_guard lock(mu_);
  plan_ = std::move(plan);
  return Status::Ok();
}

Result<Replacement> RecoveringExecutor::Replan() {
  failed_in_row_ = 0;
  return Replace();
}

bool RecoveringExecutor::HasNewNodes(const std::vector<std::string>& found) const {
  for (const std::string& node : found)
    if (std::find(considered_.begin(), considered_.end(), node) == considered_.end()) return true;
  return false;
}

Result<Replacement> RecoveringExecutor::Replace() {
  const Clock::time_point start = Clock::now();
  std::unique_ptr<cluster::Coordinator> old;
  {
    std::lock_guard lock(mu_);
    if (coordinator_) last_view_ = coordinator_->Describe();
    old = std::move(coordinator_);
  }
  // Ends the job on the nodes that are left (they drop their shards and wait
  // for the next job) before any of them is probed or given a new one.
  old.reset();
  ++placement_;  // every cache is gone from here on, whatever happens next
  Replacement out;
  Status last;
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    std::vector<std::string> candidates = opt_.cluster.peers;
    if (opt_.find_peers) {
      Result<std::vector<std::string>> found = opt_.find_peers();
      if (!found.ok()) return down_ = found.status().WithContext("[cluster] finding nodes for a re-placement");
      candidates = std::move(found).value();
    }
    const std::vector<std::string> alive = Probe(candidates);
    considered_ = alive;
    out.lost.clear();
    for (const std::string& p : peers_)
      if (std::find(alive.begin(), alive.end(), p) == alive.end()) out.lost.push_back(p);
    Status st = opt_.plan && AllKnown(alive) ? StartPlanned(alive) : StartChosen(alive);
    if (st.ok() && opt_.plan && !plan()) {
      // New nodes have reported their inventory under ChooseSplit's split: plan with it.
      if (Status planned = StartPlanned(alive); !planned.ok()) {
        Log(fmt::format("planning after the provisional placement failed: {}", planned.message()));
        if (!coordinator_) st = planned;
      }
    }
    if (!st.ok()) {
      // Too little memory is no reason to try again.
      const std::string& why = st.message();
      if (why.find("does not fit") != std::string::npos || why.find("cannot re-place") != std::string::npos)
        return down_ = st;
      last = st;
      Log(fmt::format("re-placing failed: {}", last.message()));
      continue;
    }
    down_ = Status::Ok();
    out.peers = peers_;
    out.split = SplitName(split_);
    out.ranks = split_.world();
    if (std::optional<LivePlan> p = plan()) out.predicted_tps = p->placement.best.tokens_per_s();
    out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return out;
  }
  return down_ = last.WithContext("[cluster] re-placing the model failed");
}

// Every node must join the provisional job (to report itself): tpN over all
// of them, or ppN when the model cannot be split N ways by heads.
Result<cluster::Split> RecoveringExecutor::ProvisionalSplit() const {
  PLEXUS_ASSIGN_OR_RETURN(ModelConfig config, ReadModelConfig(*file_));
  const int world = static_cast<int>(opt_.cluster.peers.size()) + 1;
  for (const std::string& name : {SplitName(opt_.cluster.split), fmt::format("pp{}", world)}) {
    Result<cluster::Split> split = cluster::ParseSplit(name);
    if (!split.ok() || split->world() != world) continue;
    bool fits = true;
    for (int rank = 0; rank < world && fits; ++rank) fits = cluster::ShardForRank(*file_, config, *split, rank).ok();
    if (fits) return split;
  }
  return Status::Errorf("cluster", "the model cannot be split over {} processes (tp{} or pp{}) to gather the nodes' "
                        "inventory; pass --split", world, world, world);
}

Status RecoveringExecutor::StartChosen(const std::vector<std::string>& alive) {
  PLEXUS_ASSIGN_OR_RETURN(cluster::Split split, ChooseSplit(alive.size()));
  const std::vector<std::string> peers(alive.begin(), alive.begin() + (split.world() - 1));
  PLEXUS_RETURN_IF_ERROR(CheckMemory(split, peers));
  Status st = StartOn(split, peers);
  if (!st.ok()) Log(fmt::format("re-placing on split {} failed", SplitName(split)));
  return st;
}

std::vector<std::string> RecoveringExecutor::Probe(const std::vector<std::string>& candidates) const {
  // Probed at once: a stopped node costs probe_timeout, not one per node.
  std::vector<char> ok(candidates.size(), 0);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < candidates.size(); ++i)
    threads.emplace_back([&, i] {
      // Connected and authenticated, then closed: the node sees a job that
      // never came and goes back to waiting.
      ok[i] = cluster::IntakeConnection::Connect(candidates[i], opt_.cluster.secret, opt_.probe_timeout).ok();
    });
  for (std::thread& t : threads) t.join();
  std::vector<std::string> alive;
  for (size_t i = 0; i < candidates.size(); ++i)
    if (ok[i] && std::find(alive.begin(), alive.end(), candidates[i]) == alive.end()) alive.push_back(candidates[i]);
  return alive;
}

Result<cluster::Split> RecoveringExecutor::ChooseSplit(size_t n_nodes) const {
  const cluster::Split& first = opt_.cluster.split;
  for (int world = static_cast<int>(n_nodes) + 1; world >= 1; --world) {
    // The split asked for when all of it is back (its shares kept); else
    // the same kind of parallelism over whoever is there.
    std::vector<std::string> names;
    if (world == first.world()) names.push_back("");
    if (world == 1) names.push_back("1");
    if (world > 1 && first.ep > 1) names.push_back(fmt::format("ep{}", world));
    if (world > 1 && first.pp == 1) names.push_back(fmt::format("tp{}", world));
    if (world > 1 && first.pp > 1) names.push_back(fmt::format("pp{}", world));
    if (world > 1) names.push_back(fmt::format("tp{}", world));
    for (const std::string& name : names) {
      Result<cluster::Split> split = name.empty() ? Result<cluster::Split>(first) : cluster::ParseSplit(name);
      if (!split.ok()) continue;
      bool fits = true;
      for (int rank = 0; rank < split->world() && fits; ++rank)
        fits = cluster::ShardForRank(*file_, config_, *split, rank).ok();
      if (fits) return split;
    }
  }
  return Status::Errorf("cluster", "no split of the model fits {} node(s) plus this process", n_nodes);
}

Status RecoveringExecutor::CheckMemory(const cluster::Split& split, const std::vector<std::string>& peers) const {
  for (int rank = 0; rank < split.world(); ++rank) {
    PLEXUS_ASSIGN_OR_RETURN(ShardSpec shard, cluster::ShardForRank(*file_, config_, split, rank));
    const uint64_t need = TotalBytes(ShardByteRanges(*file_, config_, shard));
    uint64_t have = 0;
    if (rank == 0) {
      have = ReadMemoryInfo().available;
    } else {
      // As the node reported at its last join; its old shard is freed now.
      const std::string& name = peers[static_cast<size_t>(rank - 1)];
      for (const ShardView& v : last_view_.shards)
        if (v.name == name && v.mem_available > 0) have = v.mem_available + v.weight_bytes;
    }
    if (have > 0 && need > have)
      return Status::Errorf("cluster",
                            "cannot re-place the model as {}: rank {} ({}) needs {:.2f} GiB of weights but has {:.2f} "
                            "GiB available; bring nodes back and POST /v1/cluster/replan",
                            SplitName(split), rank, rank == 0 ? std::string("this process") : peers[rank - 1],
                            GiB(need), GiB(have));
  }
  return Status::Ok();
}

}  // namespace plexus
