// Byte-span bookkeeping and the .part.state file of resumable downloads.
#include "hub/part_state.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace plexus::hub {
namespace {

TEST(Spans, MergeAndMissing) {
  EXPECT_EQ(MergeSpans({{10, 20}, {0, 5}, {5, 8}, {15, 30}, {40, 40}}),
            (std::vector<ByteSpan>{{0, 8}, {10, 30}}));
  EXPECT_EQ(MissingSpans(50, {{10, 20}, {0, 5}, {30, 60}}), (std::vector<ByteSpan>{{5, 10}, {20, 30}}));
  EXPECT_EQ(MissingSpans(10, {}), (std::vector<ByteSpan>{{0, 10}}));
  EXPECT_TRUE(MissingSpans(10, {{0, 10}}).empty());
  EXPECT_EQ(TotalBytes({{0, 8}, {10, 30}}), 28u);
}

class PartStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("plexus_part_state_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const char* name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

TEST_F(PartStateTest, RoundTrip) {
  PartState s;
  s.source = "hf:org/repo/x y.gguf";
  s.size = 1000;
  s.size_known = true;
  s.sha256 = std::string(64, 'a');
  s.have = {{500, 600}, {0, 100}, {100, 200}};
  ASSERT_TRUE(WritePartState(Path("x.part.state"), s).ok());
  auto back = ReadPartState(Path("x.part.state"));
  ASSERT_TRUE(back.ok()) << back.status().message();
  ASSERT_TRUE(back->has_value());
  const PartState& r = **back;
  EXPECT_EQ(r.source, s.source);
  EXPECT_EQ(r.size, 1000u);
  EXPECT_TRUE(r.size_known);
  EXPECT_EQ(r.sha256, s.sha256);
  EXPECT_EQ(r.have, (std::vector<ByteSpan>{{0, 200}, {500, 600}}));
}

TEST_F(PartStateTest, UnknownSizeAndNoDigest) {
  PartState s;
  s.source = "https://h/x.gguf";
  ASSERT_TRUE(WritePartState(Path("y.part.state"), s).ok());
  auto back = ReadPartState(Path("y.part.state"));
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_FALSE((*back)->size_known);
  EXPECT_TRUE((*back)->sha256.empty());
  EXPECT_TRUE((*back)->have.empty());
}

TEST_F(PartStateTest, MissingIsNotAnError) {
  auto back = ReadPartState(Path("none.part.state"));
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->has_value());
}

TEST_F(PartStateTest, BadFilesAreErrorsThatNameTheFile) {
  const char* bodies[] = {"something else\n", "plexus-part 1\nsize many\n", "plexus-part 1\nhave 10 5\n",
                          "plexus-part 1\nhave 1\n", "plexus-part 1\nflavour vanilla\n"};
  for (const char* body : bodies) {
    std::ofstream(Path("bad.part.state"), std::ios::trunc) << body;
    auto back = ReadPartState(Path("bad.part.state"));
    ASSERT_FALSE(back.ok()) << body;
    EXPECT_NE(back.status().message().find("bad.part.state"), std::string::npos) << back.status().message();
  }
}

}  // namespace
}  // namespace plexus::hub
