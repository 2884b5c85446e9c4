// plexus tokenize: the token ids of the text on stdin, one line, space
// separated. Reads only the tokenizer from the GGUF file, not the weights.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "commands.h"
#include "format/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace plexus::cli {
namespace {

struct TokenizeArgs {
  std::string model;
  bool no_bos = false;
  bool special = false;
};

Result<std::vector<int32_t>> Tokenize(const TokenizeArgs& a, const std::string& text) {
  PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, GgufFile::Open(a.model));
  PLEXUS_ASSIGN_OR_RETURN(Vocab vocab, LoadVocabFromGguf(*file));
  PLEXUS_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::Create(std::move(vocab)));
  EncodeOptions options;
  if (a.no_bos) options.add_bos = false;  // otherwise the vocabulary's add_bos_token
  options.parse_special = a.special;
  return tokenizer->Encode(text, options);
}

int RunTokenize(const TokenizeArgs& a) {
  std::string text(std::istreambuf_iterator<char>(std::cin), {});
  if (std::cin.bad()) {
    fmt::print(stderr, "plexus tokenize: cannot read stdin\n");
    return 1;
  }
  auto ids = Tokenize(a, text);
  if (!ids.ok()) {
    fmt::print(stderr, "plexus tokenize: {}\n", ids.status().message());
    return 1;
  }
  fmt::print("{}\n", fmt::join(*ids, " "));
  return 0;
}

}  // namespace

Runner AddTokenize(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Print the token ids of the text on stdin (all of it, a final newline included)");
  cmd->add_option("-m,--model", args->model, "GGUF model file (only its tokenizer is read)")
      ->required()
      ->envname("PLEXUS_MODEL");
  cmd->add_flag("--no-bos", args->no_bos, "Do not add the BOS token (default: as the vocabulary says)");
  cmd->add_flag("--special", args->special, "Match control tokens' text such as <s> in the input");
  return [args] { return RunTokenize(*args); };
}

}  // namespace plexus::cli
