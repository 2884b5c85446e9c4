// plexus: pools ordinary machines into one private AI cluster.
#include <cstdio>
#include <map>
#include <string>

#include <CLI/CLI.hpp>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"plexus: run large language models on one machine or pooled across many"};
  app.require_subcommand(1);
  std::map<std::string, plexus::cli::Runner> runners;
  runners["generate"] = plexus::cli::AddGenerate(app);
  runners["inspect"] = plexus::cli::AddInspect(app);
  runners["synth"] = plexus::cli::AddSynth(app);
  runners["logits"] = plexus::cli::AddLogits(app);
  runners["vocab"] = plexus::cli::AddVocab(app);
  runners["tokenize"] = plexus::cli::AddTokenize(app);
  runners["bench"] = plexus::cli::AddBench(app);
  runners["bench-comm"] = plexus::cli::AddBenchComm(app);
  runners["node"] = plexus::cli::AddNode(app);
  runners["chat"] = plexus::cli::AddChat(app);
  runners["plan"] = plexus::cli::AddPlan(app);
  runners["serve"] = plexus::cli::AddServe(app);
  runners["pull"] = plexus::cli::AddPull(app);
  runners["ls"] = plexus::cli::AddLs(app);
  CLI11_PARSE(app, argc, argv);
  for (CLI::App* sub : app.get_subcommands()) return runners.at(sub->get_name())();
  return 1;
}
