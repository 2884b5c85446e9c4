// What the engine runs a batch on: the local model, or a cluster of shards
// driven by a coordinator. Either way a batch goes in and, for the entries
// that want them, full-vocabulary logits come out.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/collective.h"
#include "base/status.h"
#include "base/thread_pool.h"
#include "model/batch.h"
#include "model/model.h"

namespace plexus {

// What runs where, for the dashboard and `/api/cluster`: one entry per rank.
struct ShardView {
  int rank = 0;
  std::string name;          // "local" for this process, else the node's HOST:PORT
  std::string role;          // "coordinator" or "node"
  ShardSpec shard;           // layers, heads, KV heads, FFN rows, vocab rows of this rank
  double share = 1;          // its tensor-parallel share of the stage
  uint64_t weight_bytes = 0; // bytes of weights it holds
  // Inventory, as the rank reported it at join (0 / empty when unknown).
  std::string hostname;
  uint64_t mem_total = 0, mem_available = 0, rss = 0;
  int cores = 0;
  std::string simd;          // the SIMD target its kernels dispatch to
  double membw_gbs = 0;      // read bandwidth it measured at start, GB/s (0: unknown)
  double gflops = 0;         // decode kernel GFLOP/s it measured at start (0: unknown)
  std::vector<std::string> gpus;  // NVIDIA GPU models it found
  // The link to the coordinator, measured at join (negative: not measured / itself).
  double link_rtt_us = -1;
  double link_gbps = -1;
  std::string link_transport;  // what carries this rank's collectives with rank 0, e.g. "shm", "ucx (tcp/eth0)"
};

// One measured pair of ranks (a < b): at join, and again while idle
// (cluster::ClusterOptions::link_refresh).
struct LinkView {
  int a = 0, b = 0;
  double rtt_us = -1;  // median small round trip
  double gbps = -1;    // bulk bandwidth (-1: not measured)
  std::string transport;     // what carries it, where known (rank 0's links)
  int64_t measured_unix_ms = 0;  // wall-clock time of this measurement
};

struct ClusterView {
  std::string split;               // "1", "tp2", "tp2xpp2", ...
  std::vector<ShardView> shards;   // by rank; rank 0 is this process
  std::vector<LinkView> links;     // every measured pair, (0,1), (0,2), ..., (1,2), ...
  int links_rounds = 0;            // measurements of every pair so far (1: at join only)
};

class Executor {
 public:
  virtual ~Executor() = default;
  // logits: [n, V], one row per entry with want_logits, in batch order.
  virtual Status Forward(std::span<const BatchEntry> batch, std::vector<float>* logits) = 0;
  virtual void DropSequence(int32_t seq) = 0;
  virtual int64_t max_context() const = 0;
  virtual const ModelConfig& config() const = 0;
  // Who holds what. Called from any thread; must not touch the forward state.
  virtual ClusterView Describe() const = 0;
  // Counts re-placements of the model (engine/recovering_executor.h). When a
  // failed Forward leaves it changed, every sequence's KV cache is gone: the
  // caller may run each sequence again from position 0 on the new placement.
  virtual uint64_t placement() const { return 0; }
};

// One process, the whole model: a full shard with a no-op collective.
class LocalExecutor final : public Executor {
 public:
  LocalExecutor(std::unique_ptr<Model> model, int threads) : model_(std::move(model)), pool_(threads) {}
  Status Forward(std::span<const BatchEntry> batch, std::vector<float>* logits) override {
    return model_->Forward(batch, single_, nullptr, pool_, logits);
  }
  void DropSequence(int32_t seq) override { model_->DropSequence(seq); }
  int64_t max_context() const override { return model_->max_context(); }
  const ModelConfig& config() const override { return model_->config(); }
  ClusterView Describe() const override;
  ThreadPool& pool() { return pool_; }

 private:
  std::unique_ptr<Model> model_;
  ThreadPool pool_;
  NoopCollective single_;
};

}  // namespace plexus
