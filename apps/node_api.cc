#include "node_api.h"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "cluster/election.h"
#include "cluster/plan.h"
#include "format/gguf.h"
#include "model/config.h"

namespace plexus::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kTick = std::chrono::milliseconds(200);
constexpr auto kRetryAfterFailure = std::chrono::seconds(10);

std::string Hex(uint64_t id) { return fmt::format("{:016x}", id); }

nlohmann::json MemberJson(const cluster::DiscoveredNode& n) {
  return {{"node_id", Hex(n.node_id)},
          {"host", n.host},
          {"intake_port", n.port},
          {"api_port", n.api_port},
          {"candidate", (n.flags & cluster::kBeaconCandidate) != 0},
          {"coordinating", (n.flags & cluster::kBeaconCoordinating) != 0}};
}

}  // namespace

NodeApi::NodeApi(NodeApiOptions options) : opt_(std::move(options)), http_(opt_.http) {}

Result<std::unique_ptr<NodeApi>> NodeApi::Bind(NodeApiOptions options) {
  std::unique_ptr<NodeApi> api(new NodeApi(std::move(options)));
  server::ForwardOptions f;
  f.target = [p = api.get()] { return p->Target(); };
  f.election = [p = api.get()] { return p->ElectionJson(); };
  f.read_timeout = api->opt_.forward_timeout;
  server::RegisterForwarding(api->http_, std::move(f));
  PLEXUS_RETURN_IF_ERROR(api->http_.Bind());
  return api;
}

Status NodeApi::Start(cluster::Announcer* announcer) {
  announcer_ = announcer;
  PLEXUS_ASSIGN_OR_RETURN(listener_, cluster::Listener::Start(opt_.discovery));
  started_ = Clock::now();
  http_thread_ = std::thread([this] {
    if (Status st = http_.Run(); !st.ok()) Log(st.message());
  });
  election_ = std::thread([this] { ElectionLoop(); });
  Log(fmt::format("serving the API at http://{}:{}/ (forwarded to the elected coordinator)", opt_.http.host, port()));
  return Status::Ok();
}

NodeApi::~NodeApi() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (election_.joinable()) election_.join();
  StopRole();
  http_.Stop();
  if (http_thread_.joinable()) http_thread_.join();
}

void NodeApi::Log(const std::string& line) const {
  if (opt_.log) opt_.log("api: " + line);
  else std::fprintf(stderr, "plexus node: api: %s\n", line.c_str());
}

uint8_t NodeApi::flags() const {
  uint8_t f = opt_.model_path.empty() ? 0 : cluster::kBeaconCandidate;
  std::lock_guard lock(mu_);
  if (role_ != Role::kNone) f |= cluster::kBeaconCoordinating;
  return f;
}

void NodeApi::SetFlags() {
  if (announcer_) announcer_->SetFlags(flags());
}

void NodeApi::ElectionLoop() {
  std::unique_lock lock(mu_);
  while (!stop_cv_.wait_for(lock, kTick, [this] { return stopping_; })) {
    if (Clock::now() - started_ < opt_.settle) continue;
    lock.unlock();
    // This node as it is now (its own beacon, if heard back, may be a tick old).
    std::vector<cluster::DiscoveredNode> live = listener_->Live();
    cluster::DiscoveredNode self;
    for (const cluster::DiscoveredNode& n : live)
      if (n.node_id == opt_.node_id) self = n;
    std::erase_if(live, [this](const cluster::DiscoveredNode& n) { return n.node_id == opt_.node_id; });
    self.node_id = opt_.node_id;
    if (self.host.empty()) self.host = "127.0.0.1";
    self.api_port = static_cast<uint16_t>(port());
    self.flags = flags();
    live.push_back(self);
    Elect(std::move(live));
    lock.lock();
  }
}

void NodeApi::Elect(std::vector<cluster::DiscoveredNode> live) {
  const std::optional<size_t> index = cluster::ElectCoordinator(live);
  std::optional<cluster::DiscoveredNode> elected;
  if (index) elected = live[*index];
  const bool is_self = elected && elected->node_id == opt_.node_id;
  bool start = false, stop = false, retry = false;
  {
    std::lock_guard lock(mu_);
    const bool changed = settled_ ? (elected.has_value() != elected_.has_value() ||
                                     (elected && elected->node_id != elected_->node_id))
                                  : true;
    if (changed)
      Log(elected ? fmt::format("coordinator: {}{}", cluster::DescribeMember(*elected), is_self ? " (this node)" : "")
                  : std::string("no coordinator: no live node was given the model (-m)"));
    live_ = std::move(live);
    elected_ = elected;
    settled_ = true;
    start = is_self && role_ == Role::kNone;
    retry = is_self && role_ == Role::kFailed && Clock::now() - role_failed_at_ >= kRetryAfterFailure;
    stop = !is_self && role_ != Role::kNone;
  }
  if (stop || retry) StopRole();
  if (start || retry) StartRole(OtherNodes());
}

std::vector<std::string> NodeApi::OtherNodes() const {
  std::lock_guard lock(mu_);
  std::vector<cluster::DiscoveredNode> others;
  for (const cluster::DiscoveredNode& n : live_)
    if (n.node_id != opt_.node_id) others.push_back(n);
  std::sort(others.begin(), others.end(), [](const auto& a, const auto& b) { return a.node_id < b.node_id; });
  std::vector<std::string> peers;
  for (const cluster::DiscoveredNode& n : others) peers.push_back(n.address());
  return peers;
}

void NodeApi::StartRole(std::vector<std::string> peers) {
  {
    std::lock_guard lock(mu_);
    role_ = Role::kStarting;
    role_error_.clear();
  }
  SetFlags();
  Log(fmt::format("this node coordinates: opening {} over {} other node{}", opt_.model_path, peers.size(),
                  peers.size() == 1 ? "" : "s"));
  starter_ = std::thread([this, peers = std::move(peers)]() mutable { OpenStack(std::move(peers)); });
}

void NodeApi::OpenStack(std::vector<std::string> peers) {
  ApiStackOptions o;
  o.model_path = opt_.model_path;
  o.alias = opt_.alias;
  o.engine = opt_.engine;
  o.scheduler = opt_.scheduler;
  o.http = opt_.http;
  o.http.host = "127.0.0.1";  // reached through this node's public server only
  o.http.port = 0;
  o.http.log_requests = false;  // the public server logs each request once
  o.join_check_s = opt_.join_check_s;  // its finder lists the live nodes the election sees
  auto open = [&]() -> Result<std::unique_ptr<ApiStack>> {
    bool planned = false;
    PLEXUS_ASSIGN_OR_RETURN(o.engine.cluster, ClusterFor(std::move(peers), &planned));
    o.engine.recover = o.engine.cluster.has_value();
    // As `plexus serve` without --split: tpN is where it starts; the planner
    // then places the model for the nodes that answered.
    o.engine.plan = o.engine.recover && planned;
    if (o.engine.recover) o.engine.find_peers = [this]() -> Result<std::vector<std::string>> { return OtherNodes(); };
    return ApiStack::Open(std::move(o));
  };
  Result<std::unique_ptr<ApiStack>> stack = open();
  // Declared after `stack`: released first, so a stack dropped below is torn down unlocked.
  std::unique_lock lock(mu_);
  if (role_ != Role::kStarting) return;  // stepped down meanwhile: the stack (if any) is dropped unused
  if (!stack.ok()) {
    role_ = Role::kFailed;
    role_error_ = stack.status().message();
    role_failed_at_ = Clock::now();
    Log("elected, but cannot serve the model: " + role_error_);
    return;
  }
  stack_ = std::move(stack).value();
  role_ = Role::kServing;
  ApiStack* s = stack_.get();
  lock.unlock();
  Log(fmt::format("coordinator ready: serving {}", s->served().id));
  if (Status st = s->Run(); !st.ok()) Log(st.message());
  run_returned_ = true;
}

void NodeApi::StopRole() {
  ApiStack* s = nullptr;
  {
    std::lock_guard lock(mu_);
    if (role_ == Role::kNone && !starter_.joinable()) return;
    if (role_ != Role::kNone) Log("stepping down as coordinator");
    role_ = Role::kNone;  // an OpenStack still running sees this and drops its stack
    s = stack_.get();
  }
  if (s) {
    // A Stop that lands between Run's start and its accept loop would be lost
    // (httplib ignores stop() before it listens): wait for the loop first.
    while (!s->listening() && !run_returned_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    s->Stop();
  }
  if (starter_.joinable()) starter_.join();
  run_returned_ = false;
  std::unique_ptr<ApiStack> old;
  {
    std::lock_guard lock(mu_);
    old = std::move(stack_);
  }
  old.reset();  // ends the cluster job: the nodes go back to waiting
  SetFlags();
}

// The split for this node plus `peers`: the forced --split when enough nodes
// are live, else tensor parallel over as many of them as the model divides
// into, for the planner to re-place (nullopt: alone).
Result<std::optional<cluster::ClusterOptions>> NodeApi::ClusterFor(std::vector<std::string> peers,
                                                                   bool* planned) const {
  *planned = false;
  if (peers.empty()) return std::optional<cluster::ClusterOptions>();
  PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, GgufFile::Open(opt_.model_path));
  PLEXUS_ASSIGN_OR_RETURN(ModelConfig config, ReadModelConfig(*file));
  auto options_for = [&](const cluster::Split& split) {
    cluster::ClusterOptions o;
    o.peers.assign(peers.begin(), peers.begin() + (split.world() - 1));
    o.secret = opt_.secret;
    o.split = split;
    o.link_refresh = std::chrono::milliseconds(static_cast<int64_t>(opt_.link_refresh_s * 1000));
    o.link_idle = std::min(o.link_idle, o.link_refresh);
    o.membw_gbs = opt_.membw_gbs;
    o.gflops = opt_.gflops;
    return std::optional<cluster::ClusterOptions>(std::move(o));
  };
  if (!opt_.split.empty()) {
    PLEXUS_ASSIGN_OR_RETURN(cluster::Split forced, cluster::ParseSplit(opt_.split));
    if (static_cast<size_t>(forced.world() - 1) <= peers.size()) return options_for(forced);
    Log(fmt::format("--split {} needs {} nodes but {} are live: the planner places the model instead", opt_.split,
                    forced.world(), peers.size() + 1));
  }
  for (int world = static_cast<int>(peers.size()) + 1; world >= 2; --world) {
    Result<cluster::Split> split = cluster::ParseSplit(fmt::format("tp{}", world));
    bool fits = split.ok();
    for (int rank = 0; fits && rank < world; ++rank) fits = cluster::ShardForRank(*file, config, *split, rank).ok();
    if (!fits) continue;
    *planned = true;
    return options_for(*split);
  }
  return std::optional<cluster::ClusterOptions>();
}

server::ForwardTarget NodeApi::Target() const {
  std::lock_guard lock(mu_);
  server::ForwardTarget t;
  if (!settled_) {
    t.error = "this node is still listening for the others (a coordinator is elected within a few seconds of start)";
    return t;
  }
  if (!elected_) {
    t.error = "no coordinator: no live node was given the model; start `plexus node --api-port ...` with -m FILE "
              "on at least one machine";
    return t;
  }
  const std::string who = cluster::DescribeMember(*elected_);
  t.coordinator = fmt::format("{} {}:{}", Hex(elected_->node_id), elected_->host, elected_->api_port);
  if (elected_->node_id != opt_.node_id) {
    t.name = "the coordinator (" + who + ")";
    if (elected_->api_port == 0) t.error = "the coordinator (" + who + ") serves no API (started without --api-port)";
    else t.host = elected_->host, t.port = elected_->api_port;
    return t;
  }
  t.name = "this node's coordinator";
  t.local = true;
  t.coordinator += "; this node";
  if (role_ == Role::kServing && stack_) {
    t.host = "127.0.0.1";
    t.port = stack_->port();
  } else if (role_ == Role::kFailed) {
    t.error = "this node (" + who + ") is the elected coordinator but cannot serve the model: " + role_error_;
  } else {
    t.error = "this node (" + who + ") is the elected coordinator and is still loading the model; retry shortly";
  }
  return t;
}

nlohmann::json NodeApi::ElectionJson() const {
  std::lock_guard lock(mu_);
  nlohmann::json j;
  j["self"] = Hex(opt_.node_id);
  j["settled"] = settled_;
  j["coordinator"] = elected_ ? MemberJson(*elected_) : nlohmann::json(nullptr);
  static const char* const kRoles[] = {"none", "starting", "serving", "failed"};
  j["role"] = kRoles[static_cast<int>(role_)];
  if (!role_error_.empty()) j["error"] = role_error_;
  nlohmann::json members = nlohmann::json::array();
  for (const cluster::DiscoveredNode& n : live_) members.push_back(MemberJson(n));
  j["members"] = std::move(members);
  return j;
}

}  // namespace plexus::cli
