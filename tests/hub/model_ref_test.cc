// hf: references, URLs as models, cache paths and split-part names.
#include "hub/model_ref.h"

#include <gtest/gtest.h>

namespace plexus::hub {
namespace {

TEST(ParseModelRef, HubFileAtTheRoot) {
  auto ref = ParseModelRef("hf:ggml-org/models/stories260K.gguf");
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  EXPECT_EQ(ref->kind, ModelRef::Kind::kHub);
  EXPECT_EQ(ref->org, "ggml-org");
  EXPECT_EQ(ref->repo, "models");
  EXPECT_EQ(ref->revision, "main");
  EXPECT_EQ(ref->path, "stories260K.gguf");
  EXPECT_EQ(ref->FileName(), "stories260K.gguf");
  EXPECT_EQ(ref->CachePath(), "models/ggml-org/models/stories260K.gguf");
  EXPECT_EQ(ref->SourceUrl("https://huggingface.co"),
            "https://huggingface.co/ggml-org/models/resolve/main/stories260K.gguf");
  EXPECT_EQ(ref->ToString(), "hf:ggml-org/models/stories260K.gguf");
}

TEST(ParseModelRef, HubPathInRepoAndRevision) {
  auto ref = ParseModelRef("hf:Org.x/Repo_1-GGUF@v1.2/sub dir/q4/model Q4.gguf");
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  EXPECT_EQ(ref->org, "Org.x");
  EXPECT_EQ(ref->repo, "Repo_1-GGUF");
  EXPECT_EQ(ref->revision, "v1.2");
  EXPECT_EQ(ref->path, "sub dir/q4/model Q4.gguf");
  EXPECT_EQ(ref->FileName(), "model Q4.gguf");
  EXPECT_EQ(ref->CachePath(), "models/Org.x/Repo_1-GGUF/sub dir/q4/model Q4.gguf");
  // Trailing slashes of the endpoint are dropped; the path is percent-encoded.
  EXPECT_EQ(ref->SourceUrl("http://127.0.0.1:8080/mirror/"),
            "http://127.0.0.1:8080/mirror/Org.x/Repo_1-GGUF/resolve/v1.2/sub%20dir/q4/model%20Q4.gguf");
  EXPECT_EQ(ref->ToString(), "hf:Org.x/Repo_1-GGUF@v1.2/sub dir/q4/model Q4.gguf");
}

TEST(ParseModelRef, RejectsBadHubReferences) {
  const char* bad[] = {
      "hf:",                        // nothing
      "hf:org/model.gguf",          // no repository
      "hf:org/repo/",               // empty file
      "hf:org/repo/model.bin",      // not GGUF
      "hf:org/repo/../x.gguf",      // escapes the cache
      "hf:org/repo/a//b.gguf",      // empty segment
      "hf:org/repo@/x.gguf",        // empty revision
      "hf:org/repo@a:b/x.gguf",     // odd revision
      "hf:or g/repo/x.gguf",        // space in the organisation
      "hf:../repo/x.gguf",          // dot-dot organisation
      "hf:org/repo/sub\\x.gguf",    // backslash
  };
  for (const char* text : bad) {
    auto ref = ParseModelRef(text);
    ASSERT_FALSE(ref.ok()) << text;
    EXPECT_NE(ref.status().message().find("[hub]"), std::string::npos) << ref.status().message();
  }
}

TEST(ParseModelRef, Urls) {
  auto ref = ParseModelRef("https://example.com/files/m%20q4.gguf?download=true");
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  EXPECT_EQ(ref->kind, ModelRef::Kind::kUrl);
  EXPECT_EQ(ref->FileName(), "m q4.gguf");
  EXPECT_EQ(ref->CachePath(), "models/url/example.com/m q4.gguf");
  EXPECT_EQ(ref->SourceUrl("ignored"), "https://example.com/files/m%20q4.gguf?download=true");

  auto local = ParseModelRef("http://127.0.0.1:8000/a/b.gguf");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->CachePath(), "models/url/127.0.0.1_8000/b.gguf");
  auto v6 = ParseModelRef("http://[::1]:9000/b.gguf");
  ASSERT_TRUE(v6.ok()) << v6.status().message();
  EXPECT_EQ(v6->CachePath(), "models/url/__1_9000/b.gguf");

  EXPECT_FALSE(ParseModelRef("https://example.com/").ok());
  EXPECT_FALSE(ParseModelRef("https://example.com/model.bin").ok());
  EXPECT_FALSE(ParseModelRef("https://example.com/%2e%2e").ok());
  EXPECT_FALSE(ParseModelRef("ftp://example.com/x.gguf").ok());
  EXPECT_FALSE(ParseModelRef("/local/path.gguf").ok());
}

TEST(ParseModelRef, SiblingsForSplitParts) {
  auto hub = ParseModelRef("hf:org/repo@dev/q4/m-00001-of-00003.gguf");
  ASSERT_TRUE(hub.ok());
  const ModelRef part = hub->WithFileName("m-00002-of-00003.gguf");
  EXPECT_EQ(part.path, "q4/m-00002-of-00003.gguf");
  EXPECT_EQ(part.revision, "dev");
  auto top = ParseModelRef("hf:org/repo/m-00001-of-00002.gguf");
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->WithFileName("m-00002-of-00002.gguf").path, "m-00002-of-00002.gguf");
  auto url = ParseModelRef("https://h.example/d/m-00001-of-00002.gguf?x=1");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->WithFileName("m-00002-of-00002.gguf").url, "https://h.example/d/m-00002-of-00002.gguf?x=1");
}

TEST(IsRemoteRef, PrefixesOnly) {
  EXPECT_TRUE(IsRemoteRef("hf:a/b/c.gguf"));
  EXPECT_TRUE(IsRemoteRef("https://x/y.gguf"));
  EXPECT_TRUE(IsRemoteRef("http://x/y.gguf"));
  EXPECT_FALSE(IsRemoteRef("models/hf:x.gguf"));
  EXPECT_FALSE(IsRemoteRef("/tmp/model.gguf"));
  EXPECT_FALSE(IsRemoteRef("model.gguf"));
}

TEST(SplitName, ParsesGgufSplitNames) {
  auto s = ParseSplitName("Llama-3-70B-Q4_K_M-00002-of-00005.gguf");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->prefix, "Llama-3-70B-Q4_K_M");
  EXPECT_EQ(s->index, 2);
  EXPECT_EQ(s->count, 5);
  EXPECT_EQ(SplitPartName(s->prefix, 1, s->count), "Llama-3-70B-Q4_K_M-00001-of-00005.gguf");
  EXPECT_EQ(SplitPartName("m", 12, 345), "m-00012-of-00345.gguf");
}

TEST(SplitName, RejectsOtherNames) {
  const char* names[] = {
      "model.gguf", "model-00001-of-00003.bin", "-00001-of-00003.gguf",  // no prefix
      "m-00000-of-00003.gguf", "m-00004-of-00003.gguf",                  // index out of range
      "m-00001-of-00000.gguf", "m-0001-of-00003.gguf", "m-00001-of-0003.gguf", "m-0000a-of-00003.gguf",
      "m_00001-of-00003.gguf", "m-00001_of_00003.gguf",
  };
  for (const char* name : names) EXPECT_FALSE(ParseSplitName(name).has_value()) << name;
  EXPECT_TRUE(ParseSplitName("m-00001-of-00001.gguf").has_value());
}

}  // namespace
}  // namespace plexus::hub
