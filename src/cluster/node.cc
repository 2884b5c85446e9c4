#include "cluster/node.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>

#include <openssl/evp.h>

#include "base/sysinfo.h"
#include "cluster/intake.h"
#include "cluster/link_survey.h"
#include "cluster/plan.h"
#include "cluster/runtime.h"
#include "kernels/ops.h"
#include "model/model.h"

namespace plexus::cluster {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kIntakeTimeout = seconds(60);
constexpr auto kIdleStep = std::chrono::hours(24);

// True when [offset, offset + n) lies inside one of `ranges` (sorted and
// merged, as SubtractRanges returns them): a binary search, since a tp shard
// arrives as ~10^5 row ranges, one frame each.
bool Covered(const std::vector<ByteRange>& ranges, uint64_t offset, uint64_t n) {
  if (offset + n < offset) return false;
  auto after = std::upper_bound(ranges.begin(), ranges.end(), offset,
                                [](uint64_t off, const ByteRange& r) { return off < r.begin; });
  if (after == ranges.begin()) return false;
  const ByteRange& r = *std::prev(after);
  return offset >= r.begin && offset + n <= r.end;
}

std::string HexDigest(EVP_MD_CTX* ctx) {
  unsigned char digest[32];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, digest, &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

// Receives the missing ranges into the cache and checks their digest.
Status ReceiveRanges(IntakeConnection& conn, ModelStore& store, const ModelIdentity& model,
                     const std::vector<ByteRange>& missing) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  for (;;) {
    auto msg = conn.Recv(kIntakeTimeout);
    if (!msg.ok()) {
      EVP_MD_CTX_free(ctx);
      return msg.status();
    }
    if (msg->type == MsgType::kRangesDone) {
      std::string want;
      Status st = DecodeText(msg->payload, &want);
      const std::string got = HexDigest(ctx);
      EVP_MD_CTX_free(ctx);
      PLEXUS_RETURN_IF_ERROR(st);
      if (got != want) return Status::Errorf("node", "shard bytes from {} do not match their digest", conn.peer());
      return store.Commit(model, missing);
    }
    RangeData data;
    Status st = msg->type == MsgType::kRangeData ? Decode(msg->payload, &data)
                                                 : Status::Errorf("node", "unexpected message while receiving the shard");
    if (st.ok() && !Covered(missing, data.offset, data.bytes.size()))
      st = Status::Errorf("node", "{} sent bytes [{}, +{}) this shard did not ask for", conn.peer(), data.offset,
                          data.bytes.size());
    if (st.ok()) st = store.Write(model, data.offset, data.bytes);
    if (!st.ok()) {
      EVP_MD_CTX_free(ctx);
      return st;
    }
    EVP_DigestUpdate(ctx, data.bytes.data(), data.bytes.size());
  }
}

// Sends logits rows back to the coordinator, a few rows per frame so each
// stays under the transport's frame limit.
Status SendLogits(tcp::TcpMesh& mesh, const std::vector<float>& logits, int64_t vocab) {
  const int64_t rows = static_cast<int64_t>(logits.size()) / vocab;
  const int64_t per_frame = std::max<int64_t>(1, (8 << 20) / (vocab * static_cast<int64_t>(sizeof(float))));
  for (int64_t begin = 0; begin < rows || (rows == 0 && begin == 0); begin += per_frame) {
    LogitsMsg msg;
    msg.rows = static_cast<uint32_t>(std::min(per_frame, rows - begin));
    msg.logits.assign(logits.begin() + begin * vocab, logits.begin() + (begin + msg.rows) * vocab);
    PLEXUS_RETURN_IF_ERROR(mesh.SendFrame(0, static_cast<uint16_t>(MsgType::kLogits), Encode(msg)));
    if (rows == 0) break;
  }
  return Status::Ok();
}

// What this node has, once `model` is loaded (READY's payload), or before
// any load (`model` null: no RSS or weight bytes worth reporting yet).
NodeInventory TakeInventory(const Model* model, const NodeOptions& opt) {
  NodeInventory inv;
  inv.hostname = HostName();
  const MemoryInfo mem = ReadMemoryInfo();
  inv.mem_total = mem.total;
  inv.mem_available = mem.available;
  inv.rss = ResidentBytes();
  inv.cores = OnlineCores();
  inv.simd = kernels::BestTargetName();
  inv.weight_bytes = model != nullptr ? model->weights().MatrixBytes() : 0;
  inv.emulated_latency_ns = opt.emulate.latency_ns;
  inv.emulated_bits_per_second = opt.emulate.bits_per_second;
  inv.membw_gbs = opt.membw_gbs;
  inv.gflops = opt.gflops;
  inv.gpus = NvidiaGpus();
  return inv;
}

}  // namespace

Status Node::ServeSteps(ShardRuntime& rt) {
  const bool sends_logits = rt.is_last_stage() && rt.rank() == LastStageLeader(rt.split()) && rt.rank() != 0;
  std::vector<float> logits;
  for (;;) {
    PLEXUS_ASSIGN_OR_RETURN(tcp::Frame frame, rt.mesh().RecvFrame(0, kIdleStep));
    switch (static_cast<MsgType>(frame.type)) {
      case MsgType::kStep: {
        StepMsg step;
        PLEXUS_RETURN_IF_ERROR(Decode(frame.payload, &step));
        PLEXUS_RETURN_IF_ERROR(rt.Step(step.entries, &logits));
        if (sends_logits) PLEXUS_RETURN_IF_ERROR(SendLogits(rt.mesh(), logits, rt.model().config().n_vocab));
        break;
      }
      case MsgType::kDrop: {
        uint32_t seq = 0;
        PLEXUS_RETURN_IF_ERROR(DecodeU32(frame.payload, &seq));
        rt.model().DropSequence(static_cast<int32_t>(seq));
        break;
      }
      case MsgType::kProbe:  // the coordinator's idle-time link refresh
        PLEXUS_RETURN_IF_ERROR(AnswerProbe(rt, frame.payload));
        break;
      case MsgType::kEnd:
        return Status::Ok();
      default:
        return Status::Errorf("node", "unexpected message 0x{:x} from the coordinator", frame.type);
    }
  }
}

Result<std::unique_ptr<Node>> Node::Start(NodeOptions options) {
  if (options.cache_dir.empty()) options.cache_dir = DefaultCacheDir();
  // Port 0 asks for any free port; the endpoint parser wants a real one.
  const bool any_port = options.listen.size() > 2 && options.listen.compare(options.listen.size() - 2, 2, ":0") == 0;
  PLEXUS_ASSIGN_OR_RETURN(tcp::Endpoint endpoint,
                          tcp::ParseEndpoint(any_port ? options.listen.substr(0, options.listen.size() - 1) + "1"
                                                      : options.listen));
  if (any_port) endpoint.port = 0;
  if (!tcp::IsLoopback(endpoint.addr) && options.secret.empty())
    return Status::Errorf("node", "refusing to listen on {} without a cluster secret (--secret-file)", options.listen);
  std::unique_ptr<Node> node(new Node(std::move(options)));
  PLEXUS_ASSIGN_OR_RETURN(node->listener_, tcp::Listen(endpoint.host, endpoint.port));
  node->host_ = endpoint.host;
  node->port_ = tcp::LocalPort(node->listener_.get());
  return node;
}

void Node::Log(const std::string& line) const {
  if (opt_.log) opt_.log(line);
  else std::fprintf(stderr, "plexus node: %s\n", line.c_str());
}

void Node::Serve(const std::atomic<bool>& stop) {
  Log(fmt::format("listening on {}:{}", host_, port_));
  while (!stop.load()) {
    pollfd p{listener_.get(), POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;
    Status st = RunJob(tcp::Fd(fd));
    Log(st.ok() ? std::string("job finished; waiting for the next one") : "job ended: " + st.message());
  }
}

Status Node::RunJob(tcp::Fd connection) {
  PLEXUS_ASSIGN_OR_RETURN(IntakeConnection conn, IntakeConnection::Accept(std::move(connection), opt_.secret, seconds(5)));
  PLEXUS_ASSIGN_OR_RETURN(Message first, conn.Recv(kIntakeTimeout));
  if (first.type == MsgType::kAskInventory) {
    // The coordinator sizes the expert shares by memory before it sends the job.
    PLEXUS_RETURN_IF_ERROR(conn.Send(MsgType::kInventory, Encode(ReadyMsg{"", TakeInventory(nullptr, opt_)})));
    PLEXUS_ASSIGN_OR_RETURN(first, conn.Recv(kIntakeTimeout));
  }
  if (first.type != MsgType::kJob)
    return Status::Errorf("node", "expected a job from {}, got message 0x{:x}", conn.peer(),
                          static_cast<unsigned>(first.type));
  const std::vector<uint8_t>& job_bytes = first.payload;
  JobSpec job;
  PLEXUS_RETURN_IF_ERROR(Decode(job_bytes, &job));
  // Any failure from here on is reported to the coordinator before we drop the job.
  auto fail = [&](const Status& st) {
    (void)conn.Send(MsgType::kError, EncodeText(st.message()));
    return st;
  };
  Split split;
  split.tp = static_cast<int>(job.tp_shares.size());
  split.ep = job.ep;
  split.pp = static_cast<int>(job.pp_shares.size());
  split.tp_shares = job.tp_shares;
  split.pp_shares = job.pp_shares;
  split.expert_shares = job.expert_shares;
  auto located = store_.Locate(job.model, job.header);
  if (!located.ok()) return fail(located.status());
  auto file = GgufFile::Open(located->path);
  if (!file.ok()) return fail(file.status());
  auto config = ReadModelConfig(**file);
  if (!config.ok()) return fail(config.status());
  auto shard = ShardForRank(**file, *config, split, job.rank);
  if (!shard.ok()) return fail(shard.status());
  const std::vector<ByteRange> needed = ShardByteRanges(**file, *config, *shard);
  const std::vector<ByteRange> missing = located->complete ? std::vector<ByteRange>{}
                                                           : SubtractRanges(needed, located->present);
  auto mesh_listener = tcp::Listen(host_, 0);
  if (!mesh_listener.ok()) return fail(mesh_listener.status());
  JobReply reply;
  reply.mesh_port = tcp::LocalPort(mesh_listener->get());
  reply.missing = missing;
  reply.cached_bytes = TotalBytes(needed) - TotalBytes(missing);
  PLEXUS_RETURN_IF_ERROR(conn.Send(MsgType::kJobReply, Encode(reply)));
  Log(fmt::format("job {}: rank {} of {}, {} ({}); {} shard bytes cached, {} to receive", job.job_id, job.rank,
                  job.world, job.model.name, shard->Describe(), reply.cached_bytes, TotalBytes(missing)));
  if (!missing.empty()) {
    Status st = ReceiveRanges(conn, store_, job.model, missing);
    if (!st.ok()) return fail(st);
    file = GgufFile::Open(located->path);  // map again: the bytes arrived after the first mapping
    if (!file.ok()) return fail(file.status());
  }
  ModelOptions model_options;
  model_options.max_context = job.max_context;
  model_options.kv_type = job.kv_type == 0 ? DType::kF32 : DType::kF16;
  auto model = Model::Load(std::shared_ptr<const GgufFile>(std::move(file).value()), *shard, model_options);
  if (!model.ok()) return fail(model.status());
  PLEXUS_RETURN_IF_ERROR(conn.Send(MsgType::kReady, Encode(ReadyMsg{"", TakeInventory(model->get(), opt_)})));
  // The other nodes may still be receiving their shards: wait as long as that takes.
  PLEXUS_ASSIGN_OR_RETURN(std::vector<uint8_t> mesh_bytes, conn.Expect(MsgType::kMesh, std::chrono::hours(2)));
  MeshSpec mesh;
  PLEXUS_RETURN_IF_ERROR(Decode(mesh_bytes, &mesh));
  if (static_cast<int>(mesh.addresses.size()) != job.world)
    return Status::Errorf("node", "mesh has {} addresses for a world of {}", mesh.addresses.size(), job.world);
  tcp::MeshOptions mo;
  mo.peers = mesh.addresses;
  mo.secret = opt_.secret;
  mo.bind_host = host_;
  mo.listen_fd = mesh_listener->release();
  mo.emulate = opt_.emulate;
  mo.heartbeat_interval = opt_.heartbeat_interval;
  mo.peer_timeout = opt_.peer_timeout;
  mo.log = [this](const std::string& line) { Log(line); };
  PLEXUS_ASSIGN_OR_RETURN(auto runtime, ShardRuntime::Join(std::move(model).value(), split, job.rank, mo, job.threads,
                                                                 static_cast<TransportKind>(mesh.transport)));
  // Rank 0 measures this link now; we only answer (the numbers stay there).
  PLEXUS_RETURN_IF_ERROR(MeasureLink(runtime->mesh(), 0, mesh.probe).status());
  return ServeSteps(*runtime);
}

}  // namespace plexus::cluster
