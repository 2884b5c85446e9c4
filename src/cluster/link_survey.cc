#include "cluster/link_survey.h"

#include <chrono>

#include <fmt/format.h>

namespace plexus::cluster {
namespace {

// A pair's report waits for both ends' probes: pings and bulk transfers on a
// slow emulated link take well under a second; a node that does not answer
// in this long is lost (the mesh's heartbeats say so sooner).
constexpr auto kReportTimeout = std::chrono::seconds(30);

LinkProbe PlanFor(const std::vector<tcp::LinkSpec>& emulate, int a, int b) {
  return PlanLinkProbe(emulate[static_cast<size_t>(a)], emulate[static_cast<size_t>(b)]);
}

Status SendProbe(ShardRuntime& rt, int to, int peer, const LinkProbe& plan) {
  return rt.mesh().SendFrame(to, static_cast<uint16_t>(MsgType::kProbe),
                             Encode(ProbeMsg{static_cast<uint32_t>(peer), plan}));
}

// A pair of nodes: both are told, rank 0 waits for the lower one's report.
Result<LinkView> MeasureNodePair(ShardRuntime& rt, int a, int b, const LinkProbe& plan) {
  PLEXUS_RETURN_IF_ERROR(SendProbe(rt, a, b, plan));
  PLEXUS_RETURN_IF_ERROR(SendProbe(rt, b, a, plan));
  PLEXUS_ASSIGN_OR_RETURN(tcp::Frame frame, rt.mesh().RecvFrame(a, kReportTimeout));
  if (frame.type != static_cast<uint16_t>(MsgType::kLinkReport))
    return Status::Errorf("cluster", "{} sent message 0x{:x} instead of its link report", rt.mesh().PeerName(a),
                          frame.type);
  LinkReport report;
  PLEXUS_RETURN_IF_ERROR(Decode(frame.payload, &report));
  if (static_cast<int>(report.a) != a || static_cast<int>(report.b) != b)
    return Status::Errorf("cluster", "{} reported the link {}-{} when asked for {}-{}", rt.mesh().PeerName(a),
                          report.a, report.b, a, b);
  return LinkView{a, b, report.rtt_us, report.gbps, "", UnixMillis()};
}

}  // namespace

int64_t UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status SurveyLinks(ShardRuntime& rt, const std::vector<tcp::LinkSpec>& emulate, bool from_zero,
                   std::vector<LinkView>* out) {
  const int world = rt.split().world();
  if (static_cast<int>(emulate.size()) != world)
    return Status::Errorf("cluster", "link survey: {} emulation specs for {} ranks", emulate.size(), world);
  for (int b = 1; b < world && from_zero; ++b) {
    const LinkProbe plan = PlanFor(emulate, 0, b);
    PLEXUS_RETURN_IF_ERROR(SendProbe(rt, b, 0, plan));
    auto stats = MeasureLink(rt.mesh(), b, plan);
    if (!stats.ok()) return stats.status().WithContext(fmt::format("[cluster] measuring the link to rank {}", b));
    out->push_back(LinkView{0, b, stats->rtt_us, stats->gbps, rt.transports().Describe(b), UnixMillis()});
  }
  for (int a = 1; a < world; ++a)
    for (int b = a + 1; b < world; ++b) {
      auto link = MeasureNodePair(rt, a, b, PlanFor(emulate, a, b));
      if (!link.ok()) return link.status().WithContext(fmt::format("[cluster] measuring the link {}-{}", a, b));
      out->push_back(*link);
    }
  return Status::Ok();
}

Status AnswerProbe(ShardRuntime& rt, std::span<const uint8_t> payload) {
  ProbeMsg probe;
  PLEXUS_RETURN_IF_ERROR(Decode(payload, &probe));
  const int peer = static_cast<int>(probe.peer);
  if (peer == rt.rank() || peer >= rt.split().world())
    return Status::Errorf("node", "probe names rank {} (this is rank {} of {})", peer, rt.rank(), rt.split().world());
  PLEXUS_ASSIGN_OR_RETURN(LinkStats stats, MeasureLink(rt.mesh(), peer, probe.plan));
  if (peer == 0 || rt.rank() > peer) return Status::Ok();  // rank 0 or the other end has the numbers
  LinkReport report{static_cast<uint32_t>(rt.rank()), static_cast<uint32_t>(peer), stats.rtt_us, stats.gbps};
  return rt.mesh().SendFrame(0, static_cast<uint16_t>(MsgType::kLinkReport), Encode(report));
}

}  // namespace plexus::cluster
