#include "comm/tcp/step_transport.h"

#include <algorithm>

#include "comm/tcp/mesh.h"

namespace plexus::tcp {

TcpStepTransport::TcpStepTransport(TcpMesh* mesh, std::vector<int> ranks, uint32_t channel)
    : ranks_(ranks),
      me_(static_cast<int>(std::find(ranks_.begin(), ranks_.end(), mesh->rank()) - ranks_.begin())),
      ex_(mesh, std::move(ranks), channel) {}

}  // namespace plexus::tcp
