// UcxContext: the factory for UCX collectives and pipe links (context.h).
// Without UCX at build time only the stub at the bottom is compiled.
#include "comm/ucx/context.h"

#if PLEXUS_HAVE_UCX

#include <algorithm>

#include "comm/ucx/transport.h"
#include "comm/ucx/worker.h"

namespace plexus::ucx {
namespace {

class UcxContextImpl final : public UcxContext {
 public:
  explicit UcxContextImpl(std::unique_ptr<Worker> worker) : w_(std::move(worker)) {}

  Result<std::unique_ptr<comm::AlgoCollective>> NewCollective(std::vector<int> ranks, uint32_t tag,
                                                              comm::AlgoOptions options) override {
    PLEXUS_ASSIGN_OR_RETURN(auto transport, NewStepTransport(std::move(ranks), tag));
    return std::make_unique<comm::AlgoCollective>(std::move(transport), std::move(options));
  }

  Result<std::unique_ptr<comm::StepTransport>> NewStepTransport(std::vector<int> ranks, uint32_t tag) override {
    PLEXUS_RETURN_IF_ERROR(CheckGroup(ranks, tag));
    return std::unique_ptr<comm::StepTransport>(new UcxStepTransport(w_.get(), std::move(ranks), tag));
  }

  Result<std::unique_ptr<PipeLink>> NewPipeLink(int prev_rank, int next_rank, uint32_t tag) override {
    const tcp::TcpMesh& mesh = w_->mesh();
    for (int r : {prev_rank, next_rank})
      if (r != -1 && (r < 0 || r >= mesh.size() || r == mesh.rank()))
        return Status::Errorf("ucx", "pipe link: rank {} is not a peer of rank {} (mesh of {})", r, mesh.rank(),
                              mesh.size());
    if (tag > kMaxChannel) return Status::Errorf("ucx", "pipe link tag {} must be < 2^24", tag);
    return std::unique_ptr<PipeLink>(new UcxPipeLink(w_.get(), prev_rank, next_rank, tag));
  }

  std::string TransportOf(int peer) const override { return w_->TransportOf(peer); }
  std::string Version() const override { return w_->Version(); }

 private:
  Status CheckGroup(const std::vector<int>& ranks, uint32_t tag) const {
    const tcp::TcpMesh& mesh = w_->mesh();
    if (tag > kMaxChannel) return Status::Errorf("ucx", "collective tag {} must be < 2^24", tag);
    if (ranks.empty() || !std::is_sorted(ranks.begin(), ranks.end()) ||
        std::adjacent_find(ranks.begin(), ranks.end()) != ranks.end())
      return Status::Errorf("ucx", "collective ranks must be sorted and unique ({} given)", ranks.size());
    if (ranks.front() < 0 || ranks.back() >= mesh.size())
      return Status::Errorf("ucx", "collective rank out of range (mesh of {})", mesh.size());
    if (!std::binary_search(ranks.begin(), ranks.end(), mesh.rank()))
      return Status::Errorf("ucx", "collective ranks do not include this rank ({})", mesh.rank());
    return Status::Ok();
  }

  std::unique_ptr<Worker> w_;
};

}  // namespace

bool Available() { return true; }

Result<std::unique_ptr<UcxContext>> UcxContext::Create(tcp::TcpMesh& mesh, UcxOptions options) {
  PLEXUS_ASSIGN_OR_RETURN(auto worker, Worker::Create(mesh, options));
  return std::unique_ptr<UcxContext>(new UcxContextImpl(std::move(worker)));
}

}  // namespace plexus::ucx

#else  // !PLEXUS_HAVE_UCX

namespace plexus::ucx {

bool Available() { return false; }

Result<std::unique_ptr<UcxContext>> UcxContext::Create(tcp::TcpMesh&, UcxOptions) {
  return Status::Errorf("ucx", "plexus was built without UCX (install libucx-dev and rebuild)");
}

}  // namespace plexus::ucx

#endif  // PLEXUS_HAVE_UCX
