// Route registration and the routes that do not generate: health, config,
// models, stats, cluster, metrics, the dashboard, Ollama's tags/show/version.
#include "server/api_server.h"

#include <httplib.h>

#include <algorithm>

#include <fmt/format.h>

#include "base/sysinfo.h"
#include "engine/recovering_executor.h"
#include "server/cluster_api.h"
#include "server/ollama.h"
#include "server/openai.h"

#if __has_include("server/dashboard_assets.h")
#include "server/dashboard_assets.h"
#define PLEXUS_HAS_DASHBOARD 1
#endif

namespace plexus::server {
namespace {

constexpr const char* kJson = "application/json";

void SendJson(httplib::Response& res, const Json& j, int status = 200) {
  res.status = status;
  res.set_content(DumpJson(j), kJson);
}

Json ModelObject(const ModelFacts& f) {
  Json m;
  m["id"] = f.id;
  m["object"] = "model";
  m["created"] = f.modified_unix;
  m["owned_by"] = "plexus";
  m["context_length"] = f.context;
  return m;
}

void ServeDashboard(const httplib::Request& req, httplib::Response& res) {
#ifdef PLEXUS_HAS_DASHBOARD
  if (const Asset* asset = FindDashboardAsset(req.path)) {
    res.set_content(reinterpret_cast<const char*>(asset->data), asset->size, asset->mime);
    return;
  }
  res.status = 404;
  res.set_content(OpenAiErrorBody({404, "no dashboard file " + req.path, "invalid_request_error", {}, "not_found"}),
                  kJson);
#else
  res.set_content("<!doctype html><title>plexus</title><p>plexus is running, but this build has no dashboard "
                  "(src/server/dashboard_assets.h was missing). The API is at /v1/.</p>",
                  "text/html; charset=utf-8");
#endif
}

}  // namespace

ApiServer::ApiServer(Engine& engine, Scheduler& scheduler, ServedModel served)
    : engine_(engine), scheduler_(scheduler), served_(std::move(served)) {
  facts_ = ReadModelFacts(engine_, served_);
  Result<ChatTemplate> chat = ChatTemplate::ForModel(engine_.tokenizer());
  if (chat.ok()) {
    chat_.emplace(std::move(chat).value());
  } else {
    chat_error_ = chat.status().message();
  }
  const Tokenizer& tok = engine_.tokenizer();
  for (size_t id = 0; id < tok.size(); ++id)
    max_piece_bytes_ = std::max(max_piece_bytes_, tok.TokenToPiece(static_cast<int32_t>(id)).size());
}

std::string ApiServer::EndpointLabel(const std::string& path) {
  static const char* const kRoutes[] = {
      "/", "/health", "/metrics", "/v1/models", "/models", "/v1/chat/completions", "/chat/completions",
      "/v1/completions", "/completions", "/api/chat", "/api/generate", "/api/tags", "/api/show", "/api/version",
      "/api/config", "/api/cluster", "/api/plan", "/api/stats", "/v1/cluster/replan"};
  for (const char* route : kRoutes)
    if (path == route) return route;
  if (path.starts_with("/v1/models/")) return "/v1/models/{id}";
  if (path == "/dashboard" || path.starts_with("/dashboard/")) return "/dashboard";
  return "other";
}

void ApiServer::Register(HttpServer& http) {
  RegisterInfoRoutes(http);
  RegisterGenerationRoutes(http);
  RegisterOllamaRoutes(http);
  http.set_observer([this](const httplib::Request& req, const httplib::Response& res, double ms) {
    const std::string endpoint = EndpointLabel(req.path);
    metrics_.CountRequest(endpoint, res.status);
    const bool generation = endpoint.ends_with("completions") || endpoint == "/api/chat" || endpoint == "/api/generate";
    if (generation && res.status == 200) metrics_.ObserveDuration(ms / 1000.0);
  });
}

void ApiServer::RegisterInfoRoutes(HttpServer& http) {
  httplib::Server& s = http.routes();
  s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    std::string error = stopping_ ? "the server is shutting down" : "";
    if (error.empty()) {
      std::lock_guard lock(health_mu_);
      error = executor_error_;
    }
    if (error.empty()) return SendJson(res, {{"status", "ok"}});
    SendJson(res, {{"status", "error"}, {"error", error}}, 503);
  });
  s.Get("/api/config", [this, auth = http.auth_required()](const httplib::Request&, httplib::Response& res) {
    SendJson(res, {{"auth_required", auth}, {"version", kPlexusVersion}, {"model", served_.id}});
  });
  const auto models = [this](const httplib::Request&, httplib::Response& res) {
    SendJson(res, {{"object", "list"}, {"data", Json::array({ModelObject(facts_)})}});
  };
  s.Get("/v1/models", models);
  s.Get("/models", models);
  s.Get(R"(/v1/models/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    if (served_.Matches(id)) return SendJson(res, ModelObject(facts_));
    SendError(res, {404, fmt::format("The model '{}' does not exist; this server serves '{}'", id, served_.id),
                    "invalid_request_error", "model", "model_not_found"}, false);
  });
  s.Get("/api/stats", [this](const httplib::Request&, httplib::Response& res) {
    const double uptime = std::chrono::duration<double>(Clock::now() - started_).count();
    SendJson(res, StatsJson(scheduler_.Stats(), scheduler_.options(), uptime));
  });
  s.Get("/api/cluster", [this](const httplib::Request&, httplib::Response& res) {
    SendJson(res, ClusterJson(facts_, engine_.executor()));
  });
  s.Get("/api/plan", [this](const httplib::Request&, httplib::Response& res) {
    SendJson(res, PlanStatusJson(engine_.executor()));
  });
  s.Post("/v1/cluster/replan", [this](const httplib::Request&, httplib::Response& res) { Replan(res); });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.Render(scheduler_.Stats(), ResidentBytes()), "text/plain; version=0.0.4; charset=utf-8");
  });
  s.Get("/", ServeDashboard);
  s.Get("/dashboard", ServeDashboard);
  s.Get(R"(/dashboard/.*)", ServeDashboard);
}

// Places the model again on the nodes that answer now (a lost one left out,
// one that came back or was found taken in). Caches are lost, so only idle.
void ApiServer::Replan(httplib::Response& res) {
  auto* recovering = dynamic_cast<RecoveringExecutor*>(&engine_.executor());
  if (recovering == nullptr)
    return SendError(res, {400, "this server runs the model on one machine: there is no cluster to re-plan",
                           "invalid_request_error", {}, "not_a_cluster"}, false);
  Result<Replacement> done = Status::Error("[server] the re-plan did not run");
  bool busy = false;
  const Status ran = scheduler_.RunWhenIdle(
      [&] {
        done = recovering->Replan();
        return done.ok() ? Status::Ok() : done.status();
      },
      &busy);
  if (busy) return SendError(res, {409, ran.message(), "invalid_request_error", {}, "busy"}, false);
  if (!ran.ok()) return SendError(res, {503, ran.message(), "server_error", {}, "replan_failed"}, false);
  const Replacement& r = *done;
  Json body = {{"split", r.split}, {"ranks", r.ranks}, {"peers", r.peers}, {"lost", r.lost}, {"seconds", r.seconds}};
  body["planned"] = r.predicted_tps > 0;
  if (r.predicted_tps > 0) body["predicted_tps"] = r.predicted_tps;
  SendJson(res, body);
}

void ApiServer::RegisterGenerationRoutes(HttpServer& http) {
  httplib::Server& s = http.routes();
  const auto chat = [this](const httplib::Request& req, httplib::Response& res) {
    GenRequest r;
    if (ApiError e = ParseChatRequest(req.body, served_, engine_.config().n_vocab, &r); !e.ok())
      return SendError(res, e, false);
    ResponseMeta meta{NewId("chatcmpl-"), std::time(nullptr), served_.id, 0, r.logprobs, r.top_logprobs,
                      r.include_usage};
    Flavor flavor{false, "messages", [this, meta](size_t n) mutable {
                    meta.prompt_tokens = n;
                    return MakeChatWriter(engine_.tokenizer(), meta);
                  }};
    Generate(req, res, r, flavor);
  };
  const auto completions = [this](const httplib::Request& req, httplib::Response& res) {
    GenRequest r;
    if (ApiError e = ParseCompletionRequest(req.body, served_, engine_.config().n_vocab, &r); !e.ok())
      return SendError(res, e, false);
    ResponseMeta meta{NewId("cmpl-"), std::time(nullptr), served_.id, 0, r.logprobs, r.top_logprobs, r.include_usage};
    Flavor flavor{false, "prompt", [this, meta](size_t n) mutable {
                    meta.prompt_tokens = n;
                    return MakeCompletionWriter(engine_.tokenizer(), meta);
                  }};
    Generate(req, res, r, flavor);
  };
  s.Post("/v1/chat/completions", chat);
  s.Post("/chat/completions", chat);
  s.Post("/v1/completions", completions);
  s.Post("/completions", completions);
}

void ApiServer::RegisterOllamaRoutes(HttpServer& http) {
  httplib::Server& s = http.routes();
  const auto generate = [this](bool chat) {
    return [this, chat](const httplib::Request& req, httplib::Response& res) {
      GenRequest r;
      bool load_only = false;
      const int64_t n_vocab = engine_.config().n_vocab;
      ApiError e = chat ? ParseOllamaChat(req.body, served_, n_vocab, &r, &load_only)
                        : ParseOllamaGenerate(req.body, served_, n_vocab, &r, &load_only);
      if (!e.ok()) return SendError(res, e, true);
      if (load_only) return SendJson(res, OllamaLoadJson(chat, served_.id));
      Flavor flavor{true, chat ? "messages" : "prompt",
                    [this, chat](size_t) { return MakeOllamaWriter(chat, served_.id); }};
      Generate(req, res, r, flavor);
    };
  };
  s.Post("/api/chat", generate(true));
  s.Post("/api/generate", generate(false));
  s.Get("/api/tags", [this](const httplib::Request&, httplib::Response& res) { SendJson(res, OllamaTagsJson(facts_)); });
  s.Post("/api/show", [this](const httplib::Request& req, httplib::Response& res) {
    if (ApiError e = ParseOllamaShow(req.body, served_); !e.ok()) return SendError(res, e, true);
    SendJson(res, OllamaShowJson(facts_));
  });
  s.Get("/api/version", [](const httplib::Request&, httplib::Response& res) {
    SendJson(res, {{"version", kPlexusVersion}});
  });
}

void ApiServer::SendError(httplib::Response& res, const ApiError& e, bool ollama) const {
  res.status = e.status;
  if (e.status == 429 || e.status == 503) res.set_header("Retry-After", "1");
  res.set_content(ollama ? OllamaErrorBody(e) : OpenAiErrorBody(e), kJson);
}

}  // namespace plexus::server
