// Splits: parsing `--split` (tp, ep, pp and their products), the rank layout
// of cluster/plan.h, expert shares by memory, and which bytes an expert-
// parallel rank reads (its own experts whole, none of the others', all of
// the replicated attention).
#include <gtest/gtest.h>

#include <algorithm>

#include <fmt/format.h>

#include "../model/gguf_rewrite.h"
#include "cluster/messages.h"
#include "cluster/plan.h"
#include "model/weight_ranges.h"

namespace plexus::cluster {
namespace {

TEST(PlanTest, ParsesExpertParallelSplits) {
  auto ep2 = ParseSplit("ep2");
  ASSERT_TRUE(ep2.ok()) << ep2.status().message();
  EXPECT_EQ(ep2->tp, 1);
  EXPECT_EQ(ep2->ep, 2);
  EXPECT_EQ(ep2->pp, 1);
  EXPECT_EQ(ep2->world(), 2);
  EXPECT_EQ(ep2->Name(), "ep2");
  EXPECT_EQ(ep2->expert_shares, (std::vector<double>{1, 1}));
  EXPECT_FALSE(ep2->expert_shares_given);

  for (const char* text : {"tp2xep2", "ep2xtp2"}) {
    auto s = ParseSplit(text);
    ASSERT_TRUE(s.ok()) << text << ": " << s.status().message();
    EXPECT_EQ(s->tp, 2);
    EXPECT_EQ(s->ep, 2);
    EXPECT_EQ(s->world(), 4);
    EXPECT_EQ(s->group(), 4);
    EXPECT_EQ(s->Name(), "tp2xep2");
  }
  auto three = ParseSplit("pp2xtp2xep3");
  ASSERT_TRUE(three.ok()) << three.status().message();
  EXPECT_EQ(three->world(), 12);
  EXPECT_EQ(three->Name(), "tp2xep3xpp2");
  EXPECT_EQ(three->expert_shares.size(), 12u);
  auto one = ParseSplit("1");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->world(), 1);
  EXPECT_EQ(one->Name(), "1");
}

TEST(PlanTest, SplitErrorsNameTheText) {
  struct Bad {
    const char* split;
    const char* shares;
    const char* names;  // must appear in the message
  };
  for (const Bad& b : {Bad{"ep0", "", "ep0"}, Bad{"xp2", "", "xp2"}, Bad{"ep2xep3", "", "ep2xep3"},
                       Bad{"tp2xepx", "", "tp2xepx"}, Bad{"ep", "", "'ep'"}, Bad{"ep2x", "", "ep2x"},
                       Bad{"ep300", "", "ep300"}, Bad{"ep2", "1,1,1", "1,1,1"}, Bad{"tp2xep2", "1,1", "1,1"},
                       Bad{"ep2", "1,-1", "-1"}, Bad{"ep32xtp64", "", "ep32xtp64"}}) {
    auto s = ParseSplit(b.split, b.shares);
    ASSERT_FALSE(s.ok()) << b.split << " " << b.shares;
    EXPECT_NE(s.status().message().find(b.names), std::string::npos) << s.status().message();
  }
}

TEST(PlanTest, SharesGoToTheExpertGroupUnderEp) {
  // tpN: the TP shares, and the experts follow them.
  auto tp = ParseSplit("tp2xpp2", "3,1");
  ASSERT_TRUE(tp.ok());
  EXPECT_EQ(tp->tp_shares, (std::vector<double>{3, 1}));
  EXPECT_EQ(tp->expert_shares, (std::vector<double>{3, 1, 3, 1}));
  EXPECT_TRUE(tp->expert_shares_given);
  // tp2xep2: four values, one per rank of the expert group; heads split evenly.
  auto ep = ParseSplit("tp2xep2", "4,2,1,1");
  ASSERT_TRUE(ep.ok()) << ep.status().message();
  EXPECT_EQ(ep->tp_shares, (std::vector<double>{1, 1}));
  EXPECT_EQ(ep->expert_shares, (std::vector<double>{4, 2, 1, 1}));
  auto stage = StageExpertShares(*ep, 0);
  ASSERT_TRUE(stage.ok());
  EXPECT_EQ(*stage, (std::vector<double>{4, 2, 1, 1}));
}

TEST(PlanTest, RankLayout) {
  // tp2xep2xpp2: rank = stage * 4 + ep_rank * 2 + tp_rank.
  auto s = ParseSplit("tp2xep2xpp2");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(StageOf(*s, 5), 1);
  EXPECT_EQ(TpRankOf(*s, 5), 1);
  EXPECT_EQ(EpRankOf(*s, 5), 0);
  EXPECT_EQ(EpRankOf(*s, 6), 1);
  EXPECT_EQ(ExpertRankOf(*s, 6), 2);
  EXPECT_EQ(TpGroupRanks(*s, 6), (std::vector<int>{6, 7}));
  EXPECT_EQ(TpGroupRanks(*s, 1), (std::vector<int>{0, 1}));
  EXPECT_EQ(ExpertGroupRanks(*s, 6), (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(ExpertGroupRanks(*s, 3), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(PrevStageRank(*s, 6), 2);
  EXPECT_EQ(NextStageRank(*s, 2), 6);
  EXPECT_EQ(NextStageRank(*s, 6), -1);
  EXPECT_EQ(PrevStageRank(*s, 3), -1);
  EXPECT_EQ(LastStageLeader(*s), 4);
  // ep3 alone: every rank its own TP group, one expert group of all three.
  auto ep3 = ParseSplit("ep3");
  ASSERT_TRUE(ep3.ok());
  EXPECT_EQ(TpGroupRanks(*ep3, 2), (std::vector<int>{2}));
  EXPECT_EQ(ExpertGroupRanks(*ep3, 2), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(LastStageLeader(*ep3), 0);
}

TEST(PlanTest, MemorySharesAreProportional) {
  const uint64_t gib = 1ull << 30;
  EXPECT_EQ(MemoryShares(std::vector<uint64_t>{48 * gib, 16 * gib}), (std::vector<double>{1.5, 0.5}));
  // An unknown (0) memory counts as the mean of the known ones; all unknown: equal.
  EXPECT_EQ(MemoryShares(std::vector<uint64_t>{32 * gib, 0, 16 * gib}), (std::vector<double>{32.0 / 24, 1, 16.0 / 24}));
  EXPECT_EQ(MemoryShares(std::vector<uint64_t>{0, 0}), (std::vector<double>{1, 1}));
  // The experts follow: 8 experts over 48 and 16 GiB go 6 and 2.
  auto ranges = SplitByShares(8, 1, MemoryShares(std::vector<uint64_t>{48 * gib, 16 * gib}));
  ASSERT_TRUE(ranges.ok());
  EXPECT_EQ((*ranges)[0], (Range{0, 6}));
  EXPECT_EQ((*ranges)[1], (Range{6, 8}));
}

TEST(PlanTest, ApplyMemorySharesKeepsGivenShares) {
  const uint64_t gib = 1ull << 30;
  auto s = ParseSplit("ep2");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(ApplyMemoryShares(&*s, std::vector<uint64_t>{48 * gib, 16 * gib}).ok());
  EXPECT_EQ(s->expert_shares, (std::vector<double>{1.5, 0.5}));
  EXPECT_FALSE(ApplyMemoryShares(&*s, std::vector<uint64_t>{gib}).ok());  // wrong count
  auto given = ParseSplit("ep2", "1,1");
  ASSERT_TRUE(given.ok());
  ASSERT_TRUE(ApplyMemoryShares(&*given, std::vector<uint64_t>{48 * gib, 16 * gib}).ok());
  EXPECT_EQ(given->expert_shares, (std::vector<double>{1, 1}));
}

TEST(PlanTest, JobCarriesTheExpertSplit) {
  JobSpec job;
  job.world = 8;
  job.rank = 3;
  job.tp_shares = {1, 1};
  job.pp_shares = {1, 1};
  job.ep = 2;
  job.expert_shares = {3, 1, 1, 1, 1, 1, 1, 2};
  job.model.size = 10;
  JobSpec back;
  ASSERT_TRUE(Decode(Encode(job), &back).ok());
  EXPECT_EQ(back.ep, 2);
  EXPECT_EQ(back.expert_shares, job.expert_shares);
  job.expert_shares.pop_back();  // one short of the world
  Status st = Decode(Encode(job), &back);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("expert_shares"), std::string::npos) << st.message();
}

// Bytes of [begin, end) that `ranges` (sorted, merged) cover.
uint64_t Covered(const std::vector<ByteRange>& ranges, uint64_t begin, uint64_t end) {
  uint64_t n = 0;
  for (const ByteRange& r : ranges)
    n += std::max(begin, std::min(end, r.end)) - std::max(begin, std::min(end, r.begin));
  return n;
}

class ExpertPlacementTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    path_ = new std::string(testing::WriteTinyModel(testing::TestModelDir("plan_test"), "tiny-qwen3moe", "q8_0", 7));
  }
  static void TearDownTestSuite() { delete path_; }
  static std::string* path_;
};
std::string* ExpertPlacementTest::path_ = nullptr;

// ep2 of 8 experts: rank r reads experts [4r, 4r+4) of every layer whole and
// no byte of the other four; attention and the router whole (replicated).
TEST_F(ExpertPlacementTest, Ep2RanksReadOnlyTheirExperts) {
  auto file = testing::OpenGguf(*path_);
  ASSERT_NE(file, nullptr);
  auto config = ReadModelConfig(*file);
  ASSERT_TRUE(config.ok());
  auto split = ParseSplit("ep2");
  ASSERT_TRUE(split.ok());
  for (int rank = 0; rank < 2; ++rank) {
    auto shard = ShardForRank(*file, *config, *split, rank);
    ASSERT_TRUE(shard.ok()) << shard.status().message();
    EXPECT_EQ(shard->experts, (Range{4 * rank, 4 * rank + 4}));
    EXPECT_EQ(shard->heads, (Range{0, config->n_heads}));  // attention replicated
    const auto ranges = ShardByteRanges(*file, *config, *shard);
    for (int64_t layer = 0; layer < config->n_layers; ++layer) {
      for (const char* name : {"attn_q.weight", "attn_output.weight", "ffn_gate_inp.weight"}) {
        const GgufTensorInfo* t = file->FindTensor(fmt::format("blk.{}.{}", layer, name));
        ASSERT_NE(t, nullptr) << name;
        const uint64_t at = file->data_offset() + t->offset;
        EXPECT_EQ(Covered(ranges, at, at + t->n_bytes), t->n_bytes) << name;
      }
      const GgufTensorInfo* exps = file->FindTensor(fmt::format("blk.{}.ffn_down_exps.weight", layer));
      ASSERT_NE(exps, nullptr);
      const uint64_t per_expert = exps->n_bytes / config->n_experts;
      for (int64_t e = 0; e < config->n_experts; ++e) {
        const uint64_t at = file->data_offset() + exps->offset + e * per_expert;
        const bool mine = e >= shard->experts.begin && e < shard->experts.end;
        EXPECT_EQ(Covered(ranges, at, at + per_expert), mine ? per_expert : 0) << "rank " << rank << " expert " << e;
      }
    }
  }
}

// The LM head under ep: its rows go evenly over the whole expert group
// (ep4: four ranges; tp2xep2: four, not two per TP group), in expert-rank
// order, and a rank reads only its own rows of output.weight. tpN keeps the
// TP split by its shares.
TEST_F(ExpertPlacementTest, LmHeadRowsSplitOverTheExpertGroup) {
  auto file = testing::OpenGguf(*path_);
  ASSERT_NE(file, nullptr);
  auto config = ReadModelConfig(*file);
  ASSERT_TRUE(config.ok());
  ASSERT_FALSE(config->tied_embeddings);
  const GgufTensorInfo* head = file->FindTensor("output.weight");
  ASSERT_NE(head, nullptr);
  const uint64_t row_bytes = head->n_bytes / static_cast<uint64_t>(config->n_vocab);
  const int64_t quarter = config->n_vocab / 4;
  ASSERT_EQ(quarter * 4, config->n_vocab);  // 512: four even ranges
  for (const char* text : {"ep4", "tp2xep2"}) {
    SCOPED_TRACE(text);
    auto split = ParseSplit(text);
    ASSERT_TRUE(split.ok());
    for (int rank = 0; rank < 4; ++rank) {
      auto shard = ShardForRank(*file, *config, *split, rank);
      ASSERT_TRUE(shard.ok()) << shard.status().message();
      const int er = ExpertRankOf(*split, rank);
      EXPECT_EQ(shard->vocab, (Range{er * quarter, (er + 1) * quarter})) << "rank " << rank;
      ASSERT_EQ(shard->group_vocab.size(), 4u);
      for (int i = 0; i < 4; ++i) EXPECT_EQ(shard->group_vocab[i], (Range{i * quarter, (i + 1) * quarter}));
      const auto ranges = ShardByteRanges(*file, *config, *shard);
      const uint64_t at = file->data_offset() + head->offset;
      const uint64_t mine_begin = at + static_cast<uint64_t>(shard->vocab.begin) * row_bytes;
      const uint64_t mine_end = at + static_cast<uint64_t>(shard->vocab.end) * row_bytes;
      EXPECT_EQ(Covered(ranges, mine_begin, mine_end), mine_end - mine_begin) << "rank " << rank;
      EXPECT_EQ(Covered(ranges, at, at + head->n_bytes), mine_end - mine_begin) << "rank " << rank << " reads more rows";
    }
  }
  // tp2 (experts over the TP group): the vocabulary follows the TP shares.
  auto tp = ParseSplit("tp2", "3,1");
  ASSERT_TRUE(tp.ok());
  for (int rank = 0; rank < 2; ++rank) {
    auto shard = ShardForRank(*file, *config, *tp, rank);
    ASSERT_TRUE(shard.ok()) << shard.status().message();
    EXPECT_EQ(shard->vocab, rank == 0 ? (Range{0, 384}) : (Range{384, 512}));
    EXPECT_EQ(shard->group_vocab, (std::vector<Range>{{0, 384}, {384, 512}}));
  }
}

TEST_F(ExpertPlacementTest, EpNeedsExpertsAndEnoughOfThem) {
  auto file = testing::OpenGguf(*path_);
  ASSERT_NE(file, nullptr);
  auto config = ReadModelConfig(*file);
  ASSERT_TRUE(config.ok());
  auto nine = ParseSplit("ep9");  // 8 experts cannot go 9 ways
  ASSERT_TRUE(nine.ok());
  auto shard = ShardForRank(*file, *config, *nine, 0);
  ASSERT_FALSE(shard.ok());
  EXPECT_NE(shard.status().message().find("experts"), std::string::npos) << shard.status().message();
  ModelConfig dense = *config;
  dense.n_experts = 0;
  auto ep2 = ParseSplit("ep2");
  ASSERT_TRUE(ep2.ok());
  auto refused = ShardForRank(*file, dense, *ep2, 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("no experts"), std::string::npos) << refused.status().message();
}

}  // namespace
}  // namespace plexus::cluster
