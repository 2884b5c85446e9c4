// The cache listing and model-argument resolution, on files laid out by hand
// (no network: the endpoint points at a closed port, so any download fails).
#include "hub/cache.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "hub/part_state.h"
#include "hub/progress.h"

namespace plexus::hub {
namespace {

namespace fs = std::filesystem;

const std::string kModel = std::string(PLEXUS_SHARED_DIR) + "/models/stories260K.gguf";

class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cache_ = fs::temp_directory_path() /
             ("plexus_cache_test_" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(cache_);
    fs::create_directories(cache_);
  }
  void TearDown() override { fs::remove_all(cache_); }
  void Place(const std::string& rel) {
    fs::create_directories((cache_ / rel).parent_path());
    fs::copy_file(kModel, cache_ / rel);
  }
  PullRequest Offline() const {
    PullRequest r;
    r.cache_dir = cache_.string();
    r.endpoint = "http://127.0.0.1:1";  // nothing listens there
    r.download.http.connect_timeout_s = 2;
    return r;
  }
  fs::path cache_;
};

TEST_F(CacheTest, EmptyOrMissingCache) {
  auto none = ListCached((cache_ / "nothing").string());
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(CacheTest, ListsModelsAndPartials) {
  if (!fs::exists(kModel)) GTEST_SKIP() << kModel << " missing";
  Place("models/org/repo/stories260K.gguf");
  Place("models/url/example.com/stories260K.gguf");
  fs::create_directories(cache_ / "models/org/repo2");
  std::ofstream(cache_ / "models/org/repo2/big.gguf.part") << std::string(300, 'x');
  PartState st;
  st.source = "hf:org/repo2/big.gguf";
  st.size = 1000;
  st.size_known = true;
  st.have = {{0, 300}};
  ASSERT_TRUE(WritePartState((cache_ / "models/org/repo2/big.gguf.part.state").string(), st).ok());
  std::ofstream(cache_ / "models/org/repo/notes.txt") << "ignored";

  auto list = ListCached(cache_.string());
  ASSERT_TRUE(list.ok()) << list.status().message();
  ASSERT_EQ(list->size(), 3u);
  const CachedModel& m = (*list)[0];
  EXPECT_EQ(m.rel_path, "models/org/repo/stories260K.gguf");
  EXPECT_EQ(m.ref, "hf:org/repo/stories260K.gguf");
  EXPECT_EQ(m.size, fs::file_size(kModel));
  EXPECT_EQ(m.arch, "llama");
  EXPECT_EQ(m.quant, "F32");  // no general.file_type: the commonest weight type
  EXPECT_GT(m.n_params, 200000u);
  EXPECT_FALSE(m.partial);
  EXPECT_TRUE(m.error.empty()) << m.error;
  const CachedModel& p = (*list)[1];
  EXPECT_EQ(p.rel_path, "models/org/repo2/big.gguf");
  EXPECT_TRUE(p.partial);
  EXPECT_EQ(p.done, 300u);
  EXPECT_EQ(p.total, 1000u);
  EXPECT_EQ((*list)[2].rel_path, "models/url/example.com/stories260K.gguf");
  EXPECT_EQ((*list)[2].ref, "");
}

TEST_F(CacheTest, SplitModelIsOneEntry) {
  if (!fs::exists(kModel)) GTEST_SKIP() << kModel << " missing";
  Place("models/org/repo/m-00001-of-00003.gguf");
  Place("models/org/repo/m-00003-of-00003.gguf");
  auto list = ListCached(cache_.string());
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].rel_path, "models/org/repo/m-00001-of-00003.gguf");
  EXPECT_EQ((*list)[0].parts, 3);
  EXPECT_EQ((*list)[0].parts_present, 2);
  EXPECT_NE((*list)[0].error.find("2 of 3 parts"), std::string::npos);
}

TEST_F(CacheTest, UnreadableFileIsReportedNotFatal) {
  fs::create_directories(cache_ / "models/org/repo");
  std::ofstream(cache_ / "models/org/repo/bad.gguf") << "GGUF but not really";
  auto list = ListCached(cache_.string());
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_FALSE((*list)[0].error.empty());
  EXPECT_TRUE((*list)[0].arch.empty());
}

TEST_F(CacheTest, ResolveModelArg) {
  // A local path comes back unchanged, existing or not.
  auto local = ResolveModelArg("/some/where/model.gguf", Offline());
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(*local, "/some/where/model.gguf");
  // A cached reference needs no network.
  if (fs::exists(kModel)) {
    Place("models/org/repo/sub/stories260K.gguf");
    auto hit = ResolveModelArg("hf:org/repo/sub/stories260K.gguf", Offline());
    ASSERT_TRUE(hit.ok()) << hit.status().message();
    EXPECT_EQ(*hit, fs::absolute(cache_ / "models/org/repo/sub/stories260K.gguf").string());
  }
  // A missing one is pulled: here that fails, and says where it tried.
  auto miss = ResolveModelArg("hf:org/repo/other.gguf", Offline());
  ASSERT_FALSE(miss.ok());
  EXPECT_NE(miss.status().message().find("http://127.0.0.1:1/org/repo/resolve/main/other.gguf"), std::string::npos)
      << miss.status().message();
  auto bad = ResolveModelArg("hf:org", Offline());
  EXPECT_FALSE(bad.ok());
}

TEST(FileTypeName, KnownAndUnknown) {
  EXPECT_EQ(FileTypeName(0), "F32");
  EXPECT_EQ(FileTypeName(2), "Q4_0");
  EXPECT_EQ(FileTypeName(15), "Q4_K_M");
  EXPECT_EQ(FileTypeName(32), "BF16");
  EXPECT_EQ(FileTypeName(4), "");
  EXPECT_EQ(FileTypeName(-1), "");
  EXPECT_EQ(FileTypeName(1000), "");
}

TEST(Progress, Lines) {
  PullProgress p{"m.gguf", "download", {500'000, 2'000'000, 250'000, false}};
  EXPECT_EQ(FormatProgressLine(p, 0), "m.gguf   25%  500.0 kB / 2.0 MB  250.0 kB/s  ETA 0:06");
  EXPECT_EQ(FormatProgressLine(p, 4), "m.gguf  [#---]   25%  500.0 kB / 2.0 MB  250.0 kB/s  ETA 0:06");
  PullProgress unknown{"m.gguf", "download", {1234, 0, 0, false}};
  EXPECT_EQ(FormatProgressLine(unknown, 10), "m.gguf  1.2 kB  0 B/s");
  EXPECT_EQ(FormatBytes(999), "999 B");
  EXPECT_EQ(FormatBytes(4'100'000'000), "4.1 GB");
}

}  // namespace
}  // namespace plexus::hub
