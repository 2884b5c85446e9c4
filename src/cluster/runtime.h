// One rank's share of a running job: its model shard, the job's mesh and the
// collectives over it. Coordinator and nodes both hold one; Step runs one
// forward batch on it.
#pragma once

#include <memory>
#include <vector>

#include "base/thread_pool.h"
#include "cluster/messages.h"
#include "cluster/plan.h"
#include "cluster/transports.h"
#include "comm/tcp/collective.h"
#include "comm/tcp/mesh.h"
#include "model/model.h"

namespace plexus::cluster {

class ShardRuntime {
 public:
  // Joins the mesh (listening on `listen_fd`) and builds this rank's
  // collective group and pipeline link. Every rank calls it together.
  // `transport` picks what carries the collectives and pipeline hops
  // (cluster/transports.h); kAuto negotiates the best per group.
  static Result<std::unique_ptr<ShardRuntime>> Join(std::unique_ptr<Model> model, const Split& split, int rank,
                                                    tcp::MeshOptions mesh_options, int threads,
                                                    TransportKind transport = TransportKind::kAuto);

  // Runs this shard's part of the batch; logits as Model::Forward gives them
  // (filled on last-stage ranks only).
  Status Step(std::span<const BatchEntry> batch, std::vector<float>* logits);

  Model& model() { return *model_; }
  tcp::TcpMesh& mesh() { return *mesh_; }
  const Transports& transports() const { return *transports_; }
  const Split& split() const { return split_; }
  int rank() const { return rank_; }
  bool is_last_stage() const { return StageOf(split_, rank_) == split_.pp - 1; }

 private:
  ShardRuntime(std::unique_ptr<Model> model, const Split& split, int rank, int threads)
      : model_(std::move(model)), split_(split), rank_(rank), pool_(threads) {}

  std::unique_ptr<Model> model_;
  Split split_;
  int rank_;
  ThreadPool pool_;
  std::unique_ptr<tcp::TcpMesh> mesh_;
  std::unique_ptr<Transports> transports_;  // before tp_/pipe_: they may use its UCX context
  std::unique_ptr<Collective> tp_;
  std::unique_ptr<Collective> experts_;  // the expert group when ep > 1 (else the MoE reduces over tp_)
  std::unique_ptr<PipeLink> pipe_;
};

// A link to rank 0 as measured right after the mesh is up (-1: not measured).
struct LinkStats {
  double rtt_us = -1;  // median round trip of the small ping-pongs
  double gbps = -1;    // bulk bytes over their one-way time less the one-way latency
};

// A probe plan short enough for a join (~10 ms on loopback, ~100 ms on
// slow emulated links): bulk transfers sized to ~20 ms at the slower of the
// two ends' emulated bandwidths, fewer pings when the emulated latency is long.
LinkProbe PlanLinkProbe(const tcp::LinkSpec& coordinator, const tcp::LinkSpec& node);

// Runs `plan` over the raw data link between rank 0 and `peer`: rank 0 calls
// it for each node in turn, every node once with peer 0, before any step.
// Rank 0 gets the numbers; a node gets LinkStats{} (it does not measure).
Result<LinkStats> MeasureLink(tcp::TcpMesh& mesh, int peer, const LinkProbe& plan);

}  // namespace plexus::cluster
