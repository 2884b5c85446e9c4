#include "cluster/coordinator.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include <openssl/evp.h>

#include "base/sysinfo.h"
#include "cluster/intake.h"
#include "cluster/link_survey.h"
#include "cluster/model_store.h"
#include "kernels/ops.h"
#include "model/weight_ranges.h"

namespace plexus::cluster {
namespace {

using std::chrono::seconds;

constexpr size_t kChunkBytes = 4 << 20;  // per RangeData frame (the frame limit is 16 MiB)

struct JobContext {
  const ClusterOptions& options;
  const Split& split;  // options.split with the expert shares settled (by memory unless --shares gave them)
  const GgufFile& file;
  const ModelConfig& config;
  JobSpec job;  // rank filled per node
  std::function<void(const std::string&)> log;
};

std::string HostOf(const std::string& address) { return address.substr(0, address.rfind(':')); }

// Takes bytes streamed out of `file` off this process's memory, in runs of
// whole pages. A column slice arrives as one short range per row (576 of
// every 2304 bytes of an 8B model's ffn_down at tp4), shorter than a page:
// dropping only the pages inside each range left every page of those
// matrices resident: 1.3 GB of attn_output and ffn_down on an 8B tp4
// coordinator, whose peak RSS was 34% of the file (28% now). Ranges less
// than a page apart join one run, so a matrix costs one madvise per
// kRunBytes, not one per row.
class StreamedPages {
 public:
  explicit StreamedPages(const GgufFile& file) : file_(file) {}
  ~StreamedPages() { Flush(); }
  StreamedPages(const StreamedPages&) = delete;
  StreamedPages& operator=(const StreamedPages&) = delete;

  void Add(uint64_t begin, uint64_t end) {
    if (end_ > begin_ && (begin > end_ + kJoinBytes || end_ - begin_ >= kRunBytes)) Flush();
    if (end_ == begin_) begin_ = begin;
    end_ = std::max(end_, end);
  }
  void Flush() {
    if (end_ > begin_) file_.DropPagesAround(file_.bytes().data() + begin_, end_ - begin_);
    begin_ = end_ = 0;
  }

 private:
  static constexpr uint64_t kJoinBytes = 4096, kRunBytes = 4 << 20;
  const GgufFile& file_;
  uint64_t begin_ = 0, end_ = 0;  // the pending run, [begin_, end_) of the file
};

// Streams `missing` (which must lie inside the node's shard) to the node, with progress.
Status StreamShard(const JobContext& ctx, int rank, IntakeConnection& conn, const ShardSpec& shard,
                   const JobReply& reply) {
  const std::vector<ByteRange> needed = ShardByteRanges(ctx.file, ctx.config, shard);
  // One merge walk over both sorted lists (a tp shard has ~10^5 row ranges:
  // checking them one by one was quadratic and took minutes on an 8B model).
  const std::vector<ByteRange> outside = SubtractRanges(MergeRanges(reply.missing), needed);
  if (!outside.empty())
    return Status::Errorf("cluster", "node {} asked for bytes [{}, {}) outside its shard", conn.peer(),
                          outside[0].begin, outside[0].end);
  const uint64_t total = TotalBytes(reply.missing);
  ctx.log(fmt::format("rank {} ({}): has {:.1f} MiB of its shard, sending {:.1f} MiB", rank, conn.peer(),
                      reply.cached_bytes / 1048576.0, total / 1048576.0));
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
  uint64_t sent = 0, next_report = total / 10;
  Status st;
  StreamedPages streamed(ctx.file);
  for (const ByteRange& r : reply.missing) {
    for (uint64_t at = r.begin; at < r.end && st.ok(); at += kChunkBytes) {
      RangeData data;
      data.offset = at;
      const uint64_t n = std::min<uint64_t>(kChunkBytes, r.end - at);
      data.bytes.assign(ctx.file.bytes().begin() + at, ctx.file.bytes().begin() + at + n);
      streamed.Add(at, at + n);  // streamed, not kept: off this process's memory
      EVP_DigestUpdate(md, data.bytes.data(), data.bytes.size());
      st = conn.Send(MsgType::kRangeData, Encode(data));
      sent += n;
      if (sent >= next_report && total > 0) {
        ctx.log(fmt::format("rank {}: sent {:.1f} / {:.1f} MiB ({:.0f}%)", rank, sent / 1048576.0,
                            total / 1048576.0, 100.0 * sent / total));
        next_report += total / 10 + 1;
      }
    }
  }
  unsigned char digest[32];
  unsigned int len = 0;
  EVP_DigestFinal_ex(md, digest, &len);
  EVP_MD_CTX_free(md);
  PLEXUS_RETURN_IF_ERROR(st);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", digest[i]);
  return conn.Send(MsgType::kRangesDone, EncodeText(hex));
}

struct StartedNode {
  IntakeConnection conn;
  std::string mesh_address;
  NodeInventory inventory;  // as the node reported it in READY
};

// Runs fn(rank) for every node rank at once, each on its own thread; the
// results in rank order (index 0: rank 1), or the first failure in rank
// order once every thread is done.
template <typename T, typename Fn>
Result<std::vector<T>> ForEachNode(int world, Fn fn) {
  std::vector<std::optional<Result<T>>> results(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int rank = 1; rank < world; ++rank)
    threads.emplace_back([&results, &fn, rank] { results[static_cast<size_t>(rank)].emplace(fn(rank)); });
  for (std::thread& t : threads) t.join();
  std::vector<T> out;
  for (int rank = 1; rank < world; ++rank) {
    Result<T>& r = *results[static_cast<size_t>(rank)];
    if (!r.ok()) return r.status().WithContext(fmt::format("starting rank {}", rank));
    out.push_back(std::move(r).value());
  }
  return out;
}

struct Connected {
  IntakeConnection conn;
  uint64_t mem_total = 0;  // as reported before the job (0: not asked or unknown)
};

// Connects to every node at once; with `ask_memory`, each reports its
// inventory first (the expert shares follow memory).
Result<std::vector<Connected>> ConnectNodes(const ClusterOptions& options, bool ask_memory) {
  return ForEachNode<Connected>(static_cast<int>(options.peers.size()) + 1, [&](int rank) -> Result<Connected> {
    const std::string& address = options.peers[static_cast<size_t>(rank - 1)];
    PLEXUS_ASSIGN_OR_RETURN(IntakeConnection conn, IntakeConnection::Connect(address, options.secret, seconds(30)));
    Connected c{std::move(conn), 0};
    if (!ask_memory) return c;
    PLEXUS_RETURN_IF_ERROR(c.conn.Send(MsgType::kAskInventory, {}));
    PLEXUS_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, c.conn.Expect(MsgType::kInventory, seconds(30)));
    ReadyMsg inv;
    if (Status st = Decode(bytes, &inv); !st.ok())
      return Status::Errorf("cluster", "node {} sent a malformed inventory: {}", address, st.message());
    c.mem_total = inv.inventory.mem_total;
    return c;
  });
}

// Expert shares follow the ranks' memory unless --shares set them: asked
// for only when the model has experts to place over more than one rank.
bool NeedsMemoryShares(const Split& split, const ModelConfig& config) {
  return config.is_moe() && split.group() > 1 && !split.expert_shares_given;
}

// Hands rank `rank` its job over `conn`; returns once the node has loaded
// its shard. Runs on its own thread, beside the other nodes' (ctx is shared read-only).
Result<StartedNode> StartNode(const JobContext& ctx, int rank, IntakeConnection conn) {
  const std::string& address = ctx.options.peers[static_cast<size_t>(rank - 1)];
  JobSpec job = ctx.job;
  job.rank = rank;
  PLEXUS_RETURN_IF_ERROR(conn.Send(MsgType::kJob, Encode(job)));
  PLEXUS_ASSIGN_OR_RETURN(std::vector<uint8_t> reply_bytes, conn.Expect(MsgType::kJobReply, seconds(120)));
  JobReply reply;
  PLEXUS_RETURN_IF_ERROR(Decode(reply_bytes, &reply));
  PLEXUS_ASSIGN_OR_RETURN(ShardSpec shard, ShardForRank(ctx.file, ctx.config, ctx.split, rank));
  if (!reply.missing.empty()) PLEXUS_RETURN_IF_ERROR(StreamShard(ctx, rank, conn, shard, reply));
  PLEXUS_ASSIGN_OR_RETURN(std::vector<uint8_t> ready_bytes, conn.Expect(MsgType::kReady, std::chrono::minutes(10)));
  ReadyMsg ready;
  if (Status st = Decode(ready_bytes, &ready); !st.ok())
    return Status::Errorf("cluster", "node {} sent a malformed READY: {}", address, st.message());
  if (!ready.error.empty()) return Status::Errorf("cluster", "node {} failed to load its shard: {}", address, ready.error);
  ctx.log(fmt::format("rank {} ({}) ready: {}; host {}, {} cores, {}", rank, address, shard.Describe(),
                      ready.inventory.hostname, ready.inventory.cores, ready.inventory.simd));
  return StartedNode{std::move(conn), HostOf(address) + ":" + std::to_string(reply.mesh_port), ready.inventory};
}

// Starts every node at once: their shards stream and load in parallel, so
// a cluster comes up in the time of its slowest node, not the sum of all.
// The first failure (in rank order) is returned once every thread is done.
Result<std::vector<StartedNode>> StartNodes(const JobContext& ctx, std::vector<Connected>& conns) {
  return ForEachNode<StartedNode>(ctx.split.world(), [&](int rank) {
    return StartNode(ctx, rank, std::move(conns[static_cast<size_t>(rank - 1)].conn));
  });
}

// Rank `rank`'s entry of the view: its shard and its tensor-parallel share of the stage.
ShardView BaseView(const GgufFile& file, const ModelConfig& config, const Split& split, int rank) {
  ShardView v;
  v.rank = rank;
  v.shard = *ShardForRank(file, config, split, rank);  // checked at Start, before any node was contacted
  double total = 0;
  for (double s : split.tp_shares) total += s;
  v.share = split.tp_shares[static_cast<size_t>(TpRankOf(split, rank))] / total;
  return v;
}

void SetInventory(ShardView& v, const NodeInventory& inv) {
  v.hostname = inv.hostname;
  v.weight_bytes = inv.weight_bytes;
  v.mem_total = inv.mem_total;
  v.mem_available = inv.mem_available;
  v.rss = inv.rss;
  v.cores = inv.cores;
  v.simd = inv.simd;
  v.membw_gbs = inv.membw_gbs;
  v.gflops = inv.gflops;
  v.gpus = inv.gpus;
}

void SetLocalInventory(ShardView& v, const Model& model, const ClusterOptions& options) {
  v.hostname = HostName();
  v.weight_bytes = model.weights().MatrixBytes();
  v.cores = OnlineCores();
  v.simd = kernels::BestTargetName();
  v.membw_gbs = options.membw_gbs;
  v.gflops = options.gflops;
  v.gpus = NvidiaGpus();
}

// Rank 0 measures its link to each node in rank order; each node answers once (node.cc).
Status MeasureLinks(ShardRuntime& rt, const std::vector<LinkProbe>& plans, ClusterView& view,
                    const std::function<void(const std::string&)>& log) {
  for (size_t i = 0; i < plans.size(); ++i) {
    const int rank = static_cast<int>(i) + 1;
    auto stats = MeasureLink(rt.mesh(), rank, plans[i]);
    if (!stats.ok()) return stats.status().WithContext(fmt::format("[cluster] measuring the link to rank {}", rank));
    view.shards[static_cast<size_t>(rank)].link_rtt_us = stats->rtt_us;
    view.shards[static_cast<size_t>(rank)].link_gbps = stats->gbps;
    view.shards[static_cast<size_t>(rank)].link_transport = rt.transports().Describe(rank);
    view.links.push_back(LinkView{0, rank, stats->rtt_us, stats->gbps, rt.transports().Describe(rank), UnixMillis()});
    log(fmt::format("rank {} link: round trip {:.0f} us, {:.2f} Gbit/s", rank, stats->rtt_us, stats->gbps));
  }
  return Status::Ok();
}

Result<JobSpec> MakeJob(const std::string& model_path, const GgufFile& file, const ClusterOptions& options,
                       const Split& split, const ModelOptions& model_options, int threads) {
  JobSpec job;
  job.job_id = static_cast<uint64_t>(tcp::NowNs());
  job.world = split.world();
  job.tp_shares = split.tp_shares;
  job.pp_shares = split.pp_shares;
  job.ep = split.ep;
  for (int stage = 0; stage < split.pp; ++stage) {
    PLEXUS_ASSIGN_OR_RETURN(std::vector<double> shares, StageExpertShares(split, stage));
    job.expert_shares.insert(job.expert_shares.end(), shares.begin(), shares.end());
  }
  job.threads = threads;
  job.kv_type = static_cast<uint32_t>(model_options.kv_type);
  job.max_context = model_options.max_context;
  const std::string cache_dir = options.cache_dir.empty() ? DefaultCacheDir() : options.cache_dir;
  PLEXUS_ASSIGN_OR_RETURN(job.model.sha256, HashFile(model_path, cache_dir));
  job.model.size = file.bytes().size();
  job.model.name = std::filesystem::path(model_path).filename().string();
  job.header.assign(file.bytes().begin(), file.bytes().begin() + file.data_offset());
  return job;
}

// The view of every rank as far as it is known before the mesh (links come
// later); returns each node's link probe plan, rank 1 first.
std::vector<LinkProbe> InitView(const GgufFile& file, const ModelConfig& config, const ClusterOptions& options,
                                const Split& split, const std::vector<StartedNode>& nodes, ClusterView* view) {
  view->split = split.Name();
  std::vector<LinkProbe> plans;
  for (int rank = 0; rank < split.world(); ++rank) {
    view->shards.push_back(BaseView(file, config, split, rank));
    ShardView& v = view->shards.back();
    v.role = rank == 0 ? "coordinator" : "node";
    v.name = rank == 0 ? "local" : options.peers[static_cast<size_t>(rank - 1)];
    if (rank == 0) continue;
    const NodeInventory& inv = nodes[static_cast<size_t>(rank - 1)].inventory;
    SetInventory(v, inv);
    plans.push_back(PlanLinkProbe(options.emulate, tcp::LinkSpec{inv.emulated_latency_ns, inv.emulated_bits_per_second}));
  }
  return plans;
}

// Connects to the nodes and settles `split`'s expert shares: by the ranks'
// memory (rank 0: this machine's) unless --shares set them. Checks every
// rank's shard again under the final shares.
Result<std::vector<Connected>> ConnectAndPlace(const GgufFile& file, const ModelConfig& config,
                                               const ClusterOptions& options, Split& split,
                                               const std::function<void(const std::string&)>& log) {
  const bool by_memory = NeedsMemoryShares(split, config);
  PLEXUS_ASSIGN_OR_RETURN(std::vector<Connected> conns, ConnectNodes(options, by_memory));
  if (!by_memory) return conns;
  std::vector<uint64_t> mem{ReadMemoryInfo().total};
  for (const Connected& c : conns) mem.push_back(c.mem_total);
  PLEXUS_RETURN_IF_ERROR(ApplyMemoryShares(&split, mem));
  std::string placed;
  for (int rank = 0; rank < split.world(); ++rank) {
    PLEXUS_ASSIGN_OR_RETURN(ShardSpec shard, ShardForRank(file, config, split, rank));
    placed += fmt::format("{}rank {}: [{},{}) ({:.1f} GiB)", rank == 0 ? "" : ", ", rank, shard.experts.begin,
                          shard.experts.end, mem[static_cast<size_t>(rank)] / double(1ull << 30));
  }
  log(fmt::format("experts by memory: {}", placed));
  return conns;
}

}  // namespace

Result<std::unique_ptr<Coordinator>> Coordinator::Start(const std::string& model_path, const ClusterOptions& options,
                                                        const ModelOptions& model_options, int threads) {
  Split split = options.split;
  if (static_cast<size_t>(split.world()) != options.peers.size() + 1)
    return Status::Errorf("cluster", "the split counts {} processes but --peers names {} nodes plus this coordinator",
                          split.world(), options.peers.size());
  // Nodes start on threads of their own (StartNodes): one line at a time.
  auto log_mu = std::make_shared<std::mutex>();
  auto log = [log_mu, sink = options.log](const std::string& l) {
    std::lock_guard<std::mutex> lock(*log_mu);
    if (sink) sink(l);
    else std::fprintf(stderr, "plexus: %s\n", l.c_str());
  };
  PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> opened, GgufFile::Open(model_path));
  std::shared_ptr<const GgufFile> file(std::move(opened));
  PLEXUS_ASSIGN_OR_RETURN(ModelConfig config, ReadModelConfig(*file));
  // Check the split against the model before any node is contacted.
  for (int rank = 0; rank < split.world(); ++rank) PLEXUS_RETURN_IF_ERROR(ShardForRank(*file, config, split, rank).status());
  PLEXUS_ASSIGN_OR_RETURN(std::vector<Connected> conns, ConnectAndPlace(*file, config, options, split, log));
  JobContext ctx{options, split, *file, config, {}, log};
  PLEXUS_ASSIGN_OR_RETURN(ctx.job, MakeJob(model_path, *file, options, split, model_options, threads));
  PLEXUS_ASSIGN_OR_RETURN(std::vector<StartedNode> nodes, StartNodes(ctx, conns));
  MeshSpec mesh;
  mesh.addresses.resize(1);
  for (const StartedNode& node : nodes) mesh.addresses.push_back(node.mesh_address);
  std::unique_ptr<Coordinator> c(new Coordinator());
  const std::vector<LinkProbe> plans = InitView(*file, config, options, split, nodes, &c->view_);
  PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::Load(file, c->view_.shards[0].shard, model_options));
  SetLocalInventory(c->view_.shards[0], *model, options);
  const std::string bind_host = !options.bind_host.empty() ? options.bind_host
                                : nodes.empty()             ? std::string("127.0.0.1")
                                                            : nodes[0].conn.LocalHost();
  PLEXUS_ASSIGN_OR_RETURN(tcp::Fd listener, tcp::Listen(bind_host, 0));
  mesh.addresses[0] = bind_host + ":" + std::to_string(tcp::LocalPort(listener.get()));
  mesh.transport = static_cast<uint8_t>(options.transport);
  for (size_t i = 0; i < nodes.size(); ++i) {
    mesh.probe = plans[i];
    PLEXUS_RETURN_IF_ERROR(nodes[i].conn.Send(MsgType::kMesh, Encode(mesh)));
  }
  tcp::MeshOptions mo;
  mo.peers = mesh.addresses;
  mo.secret = options.secret;
  mo.bind_host = bind_host;
  mo.listen_fd = listener.release();
  mo.emulate = options.emulate;
  mo.heartbeat_interval = options.heartbeat_interval;
  mo.peer_timeout = options.peer_timeout;
  mo.log = log;
  PLEXUS_ASSIGN_OR_RETURN(c->runtime_, ShardRuntime::Join(std::move(model), split, 0, std::move(mo), threads,
                                                            options.transport));
  PLEXUS_RETURN_IF_ERROR(MeasureLinks(*c->runtime_, plans, c->view_, log));
  c->options_ = options;
  c->emulate_.push_back(options.emulate);
  for (const StartedNode& node : nodes)
    c->emulate_.push_back(tcp::LinkSpec{node.inventory.emulated_latency_ns, node.inventory.emulated_bits_per_second});
  // Rank 0's links were measured by the join probe; the pairs of nodes now.
  PLEXUS_RETURN_IF_ERROR(SurveyLinks(*c->runtime_, c->emulate_, false, &c->view_.links));
  c->view_.links_rounds = 1;
  if (options.link_refresh.count() > 0)
    c->refresher_ = std::thread([c = c.get(), every = options.link_refresh] { c->RefreshLoop(every); });
  log(fmt::format("cluster of {} ranks ready (split {})", split.world(), split.Name()));
  return c;
}

Coordinator::~Coordinator() {
  if (refresher_.joinable()) {
    {
      std::lock_guard lock(stop_mu_);
      stopping_ = true;
    }
    stop_cv_.notify_all();
    refresher_.join();
  }
  if (!runtime_) return;
  for (int r = 1; r < runtime_->split().world(); ++r)
    (void)runtime_->mesh().SendFrame(r, static_cast<uint16_t>(MsgType::kEnd), {});
}

void Coordinator::RefreshLoop(std::chrono::milliseconds interval) {
  std::unique_lock lock(stop_mu_);
  while (!stop_cv_.wait_for(lock, interval, [this] { return stopping_; })) {
    lock.unlock();
    Status st = RefreshLinks();
    if (!st.ok() && options_.log) options_.log("link refresh failed: " + st.message());
    else if (!st.ok()) std::fprintf(stderr, "plexus: link refresh failed: %s\n", st.message().c_str());
    lock.lock();
  }
}

Status Coordinator::RefreshLinks() {
  std::unique_lock step(step_mu_, std::try_to_lock);
  if (!step.owns_lock() || !broken_.ok()) return Status::Ok();  // a forward is running, or the job is over
  const int64_t idle_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.link_idle).count();
  if (tcp::NowNs() - last_step_ns_.load() < idle_ns) return Status::Ok();  // busy: try at the next tick
  std::vector<LinkView> links;
  Status st = SurveyLinks(*runtime_, emulate_, true, &links);
  if (!st.ok()) return broken_ = st;  // raw probe bytes may be left on a link: the next forward re-places
  std::lock_guard lock(view_mu_);
  view_.links = std::move(links);
  ++view_.links_rounds;
  for (const LinkView& l : view_.links) {
    if (l.a != 0) continue;
    ShardView& v = view_.shards[static_cast<size_t>(l.b)];
    v.link_rtt_us = l.rtt_us;
    v.link_gbps = l.gbps;
  }
  return Status::Ok();
}

Status Coordinator::Forward(std::span<const BatchEntry> batch, std::vector<float>* logits) {
  std::lock_guard step_lock(step_mu_);
  struct MarkEnd {
    std::atomic<int64_t>& at;
    ~MarkEnd() { at = tcp::NowNs(); }
  } mark{last_step_ns_};
  PLEXUS_RETURN_IF_ERROR(broken_);
  PLEXUS_RETURN_IF_ERROR(runtime_->model().CheckBatch(batch));
  const std::vector<uint8_t> step = Encode(StepMsg{{batch.begin(), batch.end()}});
  Status st;
  for (int r = 1; r < runtime_->split().world() && st.ok(); ++r)
    st = runtime_->mesh().SendFrame(r, static_cast<uint16_t>(MsgType::kStep), step);
  std::vector<float> own;
  if (st.ok()) st = runtime_->Step(batch, LastStageLeader(runtime_->split()) == 0 ? logits : &own);
  if (st.ok() && LastStageLeader(runtime_->split()) != 0) {
    size_t rows = 0;
    for (const BatchEntry& e : batch) rows += e.want_logits ? 1 : 0;
    st = ReceiveLogits(rows, logits);
  }
  if (!st.ok()) broken_ = st;
  return st;
}

Status Coordinator::ReceiveLogits(size_t rows, std::vector<float>* logits) {
  const int leader = LastStageLeader(runtime_->split());
  const size_t vocab = static_cast<size_t>(config().n_vocab);
  logits->clear();
  do {
    PLEXUS_ASSIGN_OR_RETURN(tcp::Frame frame, runtime_->mesh().RecvFrame(leader, std::chrono::minutes(10)));
    if (frame.type != static_cast<uint16_t>(MsgType::kLogits))
      return Status::Errorf("cluster", "{} sent message 0x{:x} instead of logits", runtime_->mesh().PeerName(leader),
                            frame.type);
    LogitsMsg msg;
    PLEXUS_RETURN_IF_ERROR(Decode(frame.payload, &msg));
    if (msg.logits.size() != msg.rows * vocab || logits->size() + msg.logits.size() > rows * vocab)
      return Status::Errorf("cluster", "{} sent {} logits for {} rows", runtime_->mesh().PeerName(leader),
                            msg.logits.size(), msg.rows);
    logits->insert(logits->end(), msg.logits.begin(), msg.logits.end());
    if (rows == 0) break;
  } while (logits->size() < rows * vocab);
  return Status::Ok();
}

// view_ is complete when Start returns; only a link refresh changes it (its
// links), under view_mu_. Only rank 0's own memory is read afresh (from
// /proc, not from the forward state).
ClusterView Coordinator::Describe() const {
  ClusterView view;
  {
    std::lock_guard lock(view_mu_);
    view = view_;
  }
  ShardView& self = view.shards[0];
  const MemoryInfo mem = ReadMemoryInfo();
  self.mem_total = mem.total;
  self.mem_available = mem.available;
  self.rss = ResidentBytes();
  return view;
}

void Coordinator::DropSequence(int32_t seq) {
  std::lock_guard step_lock(step_mu_);
  if (!broken_.ok()) return;
  for (int r = 1; r < runtime_->split().world(); ++r)
    (void)runtime_->mesh().SendFrame(r, static_cast<uint16_t>(MsgType::kDrop), EncodeU32(static_cast<uint32_t>(seq)));
  runtime_->model().DropSequence(seq);
}

}  // namespace plexus::cluster
