// URL parsing, redirect Locations, percent-encoding.
#include "hub/url.h"

#include <gtest/gtest.h>

namespace plexus::hub {
namespace {

TEST(ParseUrl, Parts) {
  auto u = ParseUrl("HTTPS://huggingface.co/org/repo/resolve/main/x.gguf?download=1#frag");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "huggingface.co");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/org/repo/resolve/main/x.gguf?download=1");
  EXPECT_EQ(u->Path(), "/org/repo/resolve/main/x.gguf");
  EXPECT_EQ(u->Origin(), "https://huggingface.co");

  auto p = ParseUrl("http://127.0.0.1:8080");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->port, 8080);
  EXPECT_EQ(p->target, "/");
  EXPECT_EQ(p->Origin(), "http://127.0.0.1:8080");

  auto v6 = ParseUrl("http://[::1]:9/x");
  ASSERT_TRUE(v6.ok()) << v6.status().message();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->Origin(), "http://[::1]:9");
}

TEST(ParseUrl, Rejects) {
  const char* bad[] = {"huggingface.co/x", "ftp://x/y", "http:///x", "http://h:0/x", "http://h:99999/x",
                       "http://h:12a/x", "http://user:pw@h/x", "http://h/a b", "http://[::1/x"};
  for (const char* text : bad) EXPECT_FALSE(ParseUrl(text).ok()) << text;
}

TEST(ResolveLocation, AllKinds) {
  auto base = ParseUrl("https://hub.example/org/repo/resolve/main/sub/x.gguf?a=1");
  ASSERT_TRUE(base.ok());
  auto check = [&](const char* location, const char* want) {
    auto u = ResolveLocation(*base, location);
    ASSERT_TRUE(u.ok()) << location << ": " << u.status().message();
    EXPECT_EQ(u->ToString(), want) << location;
  };
  check("https://cdn.example:8443/blobs/abc?sig=x%2Fy", "https://cdn.example:8443/blobs/abc?sig=x%2Fy");
  check("//cdn.example/blobs/abc", "https://cdn.example/blobs/abc");
  check("/api/resolve-cache/x.gguf?b=2", "https://hub.example/api/resolve-cache/x.gguf?b=2");
  check("y.gguf", "https://hub.example/org/repo/resolve/main/sub/y.gguf");
  check("../../../../../cdn/x", "https://hub.example/cdn/x");
  check("./a/../b", "https://hub.example/org/repo/resolve/main/sub/b");
  check("/a/?u=http://evil/x", "https://hub.example/a/?u=http://evil/x");
  EXPECT_FALSE(ResolveLocation(*base, "").ok());
  EXPECT_FALSE(ResolveLocation(*base, "gopher://x/y").ok());
}

TEST(PercentEncoding, RoundTrip) {
  EXPECT_EQ(PercentEncode("a b/c#d?e%", true), "a%20b/c%23d%3Fe%25");
  EXPECT_EQ(PercentEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(PercentEncode("Q4_K-M.v1~", false), "Q4_K-M.v1~");
  EXPECT_EQ(PercentDecode("a%20b%2fc"), "a b/c");
  EXPECT_EQ(PercentDecode("100%"), "100%");
  EXPECT_EQ(PercentDecode("%zz%4"), "%zz%4");
  const std::string odd = "sp ace/ü/#?&=";
  EXPECT_EQ(PercentDecode(PercentEncode(odd, true)), odd);
}

}  // namespace
}  // namespace plexus::hub
