#include "model_arg.h"

#include <cstdio>

#include "hub/cache.h"
#include "hub/progress.h"

namespace plexus::cli {

Result<std::string> ResolveModelPath(const std::string& arg) {
  hub::PullRequest request;
  request.log = [](const std::string& line) { std::fprintf(stderr, "plexus: %s\n", line.c_str()); };
  hub::ProgressPrinter printer(stderr);
  return hub::ResolveModelArg(arg, request, [&printer](const hub::PullProgress& p) { printer(p); });
}

}  // namespace plexus::cli
