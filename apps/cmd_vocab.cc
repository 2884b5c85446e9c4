// plexus vocab: convert a Hugging Face tokenizer.json (with the
// tokenizer_config.json beside it, when there is one) into a vocabulary-only
// GGUF that LoadVocabFromGguf reads.
#include <memory>
#include <string>

#include <fmt/format.h>

#include "commands.h"
#include "server/hf_tokenizer.h"

namespace plexus::cli {
namespace {

struct VocabArgs {
  std::string tokenizer_json;
  std::string out;
};

int RunVocab(const VocabArgs& a) {
  Result<Vocab> vocab = ConvertHfTokenizerToGguf(a.tokenizer_json, a.out);
  if (!vocab.ok()) {
    fmt::print(stderr, "plexus vocab: {}\n", vocab.status().message());
    return 1;
  }
  const Vocab& v = *vocab;
  fmt::print(stderr, "wrote {}: model {}, pre {}, {} tokens, {} merges, bos {}, eos {}, eog [{}]\n",
             a.out, v.model, v.pre, v.tokens.size(), v.merges.size(), v.bos, v.eos,
             fmt::join(v.eog_ids(), ", "));
  return 0;
}

}  // namespace

Runner AddVocab(CLI::App& app) {
  auto args = std::make_shared<VocabArgs>();
  CLI::App* cmd = app.add_subcommand("vocab", "Convert a Hugging Face tokenizer.json into a vocabulary GGUF");
  cmd->add_option("tokenizer_json", args->tokenizer_json, "tokenizer.json (byte-level BPE)")->required();
  cmd->add_option("-o,--out", args->out, "Output GGUF file")->required();
  return [args] { return RunVocab(*args); };
}

}  // namespace plexus::cli
