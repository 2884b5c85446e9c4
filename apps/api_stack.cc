#include "api_stack.h"

#include <fstream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <httplib.h>

#include "commands.h"

namespace plexus::cli {

void AddServingOptions(CLI::App* cmd, ServingArgs& a, const std::string& when) {
  cmd->add_option("-t,--threads", a.threads, "Threads" + when + " (0: all cores)")->check(CLI::Range(0, 1024));
  cmd->add_option("--ctx", a.ctx, "Context length" + when + " (0: the model's, at most 8192)")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--kv-type", a.kv_type, "KV cache type" + when)->check(CLI::IsMember({"f16", "f32"}));
  AddWeightLoadOption(cmd, a.load);
  cmd->add_option("--parallel", a.parallel, "Sequences generated at once" + when + " (each its own KV cache)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--queue", a.queue, "Requests waiting beyond --parallel; more get HTTP 429")
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--alias", a.alias, "Model id clients use (default: the file name without .gguf)");
  cmd->add_flag("--quiet", a.quiet, "Do not log each API request");
  cmd->add_option("--join-check", a.join_check,
                  "Seconds between looks for nodes that joined" + when +
                      " (discovery only); one found while idle is taken in by a re-plan (0: only POST "
                      "/v1/cluster/replan)")
      ->check(CLI::Range(0.0, 86400.0));
}

void ApplyServingArgs(const ServingArgs& a, ApiStackOptions* o) {
  o->engine.threads = a.threads;
  o->engine.max_context = a.ctx;
  o->engine.kv_type = *ParseKvType(a.kv_type);  // checked by the option
  o->engine.weight_load = *ParseWeightLoad(a.load);
  o->scheduler = SchedulerOptions{.max_active = a.parallel, .max_queue = a.queue};
  o->alias = a.alias;
}

Result<std::string> ReadApiKey(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Errorf("serve", "--api-key-file {}: cannot read the file", path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string key = ss.str();
  const size_t begin = key.find_first_not_of(" \t\r\n");
  const size_t end = key.find_last_not_of(" \t\r\n");
  if (begin == std::string::npos) return Status::Errorf("serve", "--api-key-file {}: the file is empty", path);
  return key.substr(begin, end - begin + 1);
}

ApiStack::ApiStack(std::unique_ptr<Engine> engine, const ApiStackOptions& o, server::ServedModel served)
    : engine_(std::move(engine)), scheduler_(*engine_, o.scheduler), http_(o.http) {
  api_ = std::make_unique<server::ApiServer>(*engine_, scheduler_, std::move(served));
  api_->Register(http_);
}

ApiStack::~ApiStack() { api_->BeginShutdown(); }

bool ApiStack::listening() const { return const_cast<server::HttpServer&>(http_).routes().is_running(); }

Result<std::unique_ptr<ApiStack>> ApiStack::Open(ApiStackOptions o) {
  PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Open(o.model_path, o.engine));
  const std::string stem = server::FileStem(o.model_path);
  server::ServedModel served{o.alias.empty() ? stem : o.alias, stem, o.model_path};
  std::unique_ptr<ApiStack> stack(new ApiStack(std::move(engine), o, std::move(served)));
  PLEXUS_RETURN_IF_ERROR(stack->http_.Bind());
  auto* recovering = dynamic_cast<RecoveringExecutor*>(&stack->engine_->executor());
  if (recovering != nullptr && o.join_check_s > 0 && o.engine.find_peers) {
    IdleReplannerOptions r;
    r.every = std::chrono::milliseconds(static_cast<int64_t>(o.join_check_s * 1000));
    r.find_live = o.engine.find_peers;
    stack->replanner_ = std::make_unique<IdleReplanner>(stack->scheduler_, *recovering, std::move(r));
  }
  return stack;
}

}  // namespace plexus::cli
