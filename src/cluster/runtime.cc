#include "cluster/runtime.h"

namespace plexus::cluster {

Result<std::unique_ptr<ShardRuntime>> ShardRuntime::Join(std::unique_ptr<Model> model, const Split& split, int rank,
                                                         tcp::MeshOptions mesh_options, int threads) {
  std::unique_ptr<ShardRuntime> rt(new ShardRuntime(std::move(model), split, rank, threads));
  mesh_options.rank = rank;
  PLEXUS_ASSIGN_OR_RETURN(rt->mesh_, tcp::TcpMesh::Create(std::move(mesh_options)));
  PLEXUS_ASSIGN_OR_RETURN(rt->tp_, rt->mesh_->NewCollective(TpGroupRanks(split, rank)));
  PLEXUS_ASSIGN_OR_RETURN(rt->pipe_, rt->mesh_->NewPipeLink(PrevStageRank(split, rank), NextStageRank(split, rank)));
  return rt;
}

Status ShardRuntime::Step(std::span<const BatchEntry> batch, std::vector<float>* logits) {
  return model_->Forward(batch, *tp_, pipe_.get(), pool_, logits);
}

}  // namespace plexus::cluster
