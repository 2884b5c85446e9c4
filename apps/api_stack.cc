#include "api_stack.h"

#include <fstream>
#include <sstream>

#include <httplib.h>

namespace plexus::cli {

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
