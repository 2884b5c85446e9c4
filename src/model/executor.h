// What the engine runs a batch on: the local model, or a cluster of shards
// driven by a coordinator. Either way a batch goes in and, for the entries
// that want them, full-vocabulary logits come out.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/collective.h"
#include "base/status.h"
#include "base/thread_pool.h"
#include "model/batch.h"
#include "model/model.h"

namespace plexus {

class Executor {
 public:
  virtual ~Executor() = default;
  // logits: [n, V], one row per entry with want_logits, in batch order.
  virtual Status Forward(std::span<const BatchEntry> batch, std::vector<float>* logits) = 0;
  virtual void DropSequence(int32_t seq) = 0;
  virtual int64_t max_context() const = 0;
  virtual const ModelConfig& config() const = 0;
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
  ThreadPool& pool() { return pool_; }

 private:
  std::unique_ptr<Model> model_;
  ThreadPool pool_;
  NoopCollective single_;
};

}  // namespace plexus
