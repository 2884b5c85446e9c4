// Hostile files: a valid file, serialized, then mutated one field at a time.
// Each must be rejected with a message that names the offending field; none
// may crash or allocate what its counts claim.
#include <functional>

#include "format/gguf.h"
#include "gguf_test_util.h"

namespace plexus {
namespace {

using testing::AfterString;
using testing::FindBytes;
using testing::PatchU32;
using testing::PatchU64;

std::vector<uint8_t> BaseFile() {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetU32("general.alignment", 32);
  w.SetStringArray("tok.list", {"a", "bb"});
  w.SetBool("flag", true);
  w.SetU32("key.one", 1);
  w.SetU32("key.two", 2);
  Status st = w.AddTensor("tensor.a", DType::kF32, {8, 2}, testing::Bytes(64, 1));
  st = w.AddTensor("tensor.b", DType::kQ8_0, {32, 1}, testing::Bytes(34, 2));
  st = w.AddTensor("tensor.c", DType::kF16, {4}, testing::Bytes(8, 3));
  EXPECT_TRUE(st.ok()) << st.message();
  return w.Serialize();
}

// Offsets of a tensor's fields, found from its name (each has one dim or two).
size_t NDimsAt(const std::vector<uint8_t>& b, const std::string& name) { return AfterString(b, name); }
size_t NeAt(const std::vector<uint8_t>& b, const std::string& name, int d) { return NDimsAt(b, name) + 4 + 8 * d; }
size_t TypeAt(const std::vector<uint8_t>& b, const std::string& name, int n_dims) { return NeAt(b, name, n_dims); }
size_t OffsetAt(const std::vector<uint8_t>& b, const std::string& name, int n_dims) {
  return TypeAt(b, name, n_dims) + 4;
}
// Offset of a key's value (past its u32 type).
size_t ValueAt(const std::vector<uint8_t>& b, const std::string& key) { return AfterString(b, key) + 4; }

void Rename(std::vector<uint8_t>& b, const std::string& from, const std::string& to) {
  ASSERT_EQ(from.size(), to.size());
  std::copy(to.begin(), to.end(), b.begin() + FindBytes(b, from));
}

struct HostileCase {
  const char* what;
  std::function<void(std::vector<uint8_t>&)> mutate;
  std::vector<std::string> expect_in_message;
};

constexpr uint64_t k2to63 = uint64_t{1} << 63;

std::vector<HostileCase> Cases() {
  using B = std::vector<uint8_t>&;
  return {
      {"bad magic", [](B b) { b[0] = 'X'; }, {"magic"}},
      {"version 1", [](B b) { PatchU32(b, 4, 1); }, {"version 1 "}},
      {"version 7", [](B b) { PatchU32(b, 4, 7); }, {"version 7 "}},
      {"big-endian", [](B b) { PatchU32(b, 4, 0x03000000); }, {"big-endian"}},
      {"n_tensors 2^63", [](B b) { PatchU64(b, 8, k2to63); }, {"n_tensors 9223372036854775808"}},
      {"n_kv 2^63", [](B b) { PatchU64(b, 16, k2to63); }, {"n_kv 9223372036854775808"}},
      // The tensor table is then misread as metadata; which field fails first
      // depends on the bytes, so only the prefix is checked.
      {"n_kv one too many", [](B b) { PatchU64(b, 16, 7); }, {}},
      {"key length past end", [](B b) { PatchU64(b, FindBytes(b, "key.one") - 8, uint64_t{1} << 62); },
       {"kv 4 key", "runs past end"}},
      {"empty key", [](B b) { PatchU64(b, FindBytes(b, "key.one") - 8, 0); }, {"kv 4 has an empty key"}},
      {"string value past end", [](B b) { PatchU64(b, ValueAt(b, "general.architecture"), 1000000); },
       {"kv 0 'general.architecture'", "string value"}},
      {"unknown value type", [](B b) { PatchU32(b, AfterString(b, "key.one"), 99); },
       {"kv 4 'key.one'", "unknown value type 99"}},
      {"array count 2^60", [](B b) { PatchU64(b, ValueAt(b, "tok.list") + 4, uint64_t{1} << 60); },
       {"'tok.list'", "array count 1152921504606846976"}},
      {"unknown array element type", [](B b) { PatchU32(b, ValueAt(b, "tok.list"), 77); },
       {"'tok.list'", "unknown array element type 77"}},
      {"bool value 2", [](B b) { b[ValueAt(b, "flag")] = 2; }, {"'flag'", "bool value 2"}},
      {"duplicate key", [](B b) { Rename(b, "key.two", "key.one"); }, {"kv 5 'key.one'", "duplicate key"}},
      {"alignment 3", [](B b) { PatchU32(b, ValueAt(b, "general.alignment"), 3); }, {"general.alignment = 3"}},
      {"alignment 0", [](B b) { PatchU32(b, ValueAt(b, "general.alignment"), 0); }, {"general.alignment = 0"}},
      {"alignment as i32",
       [](B b) { PatchU32(b, AfterString(b, "general.alignment"), static_cast<uint32_t>(GgufType::kI32)); },
       {"general.alignment has type i32, expected u32"}},
      {"tensor name past end", [](B b) { PatchU64(b, FindBytes(b, "tensor.b") - 8, ~uint64_t{0}); },
       {"tensor 1 name"}},
      {"n_dims 0", [](B b) { PatchU32(b, NDimsAt(b, "tensor.a"), 0); }, {"tensor 0 'tensor.a'", "n_dims 0"}},
      {"n_dims 5", [](B b) { PatchU32(b, NDimsAt(b, "tensor.a"), 5); }, {"tensor 0 'tensor.a'", "n_dims 5"}},
      {"ne zero", [](B b) { PatchU64(b, NeAt(b, "tensor.a", 1), 0); }, {"tensor 0 'tensor.a'", "ne[1] = 0"}},
      {"ne negative", [](B b) { PatchU64(b, NeAt(b, "tensor.a", 1), k2to63); }, {"tensor 0 'tensor.a'", "ne[1]"}},
      {"shape overflow",
       [](B b) {
         PatchU64(b, NeAt(b, "tensor.a", 0), uint64_t{1} << 40);
         PatchU64(b, NeAt(b, "tensor.a", 1), uint64_t{1} << 40);
       },
       {"tensor 0 'tensor.a'", "overflows"}},
      {"partial block", [](B b) { PatchU64(b, NeAt(b, "tensor.b", 0), 31); }, {"tensor 1 'tensor.b'", "block size"}},
      {"unknown tensor type 99", [](B b) { PatchU32(b, TypeAt(b, "tensor.c", 1), 99); },
       {"tensor 2 'tensor.c'", "ggml type id 99"}},
      {"offset past end", [](B b) { PatchU64(b, OffsetAt(b, "tensor.c", 1), uint64_t{1} << 40); },
       {"tensor 2 'tensor.c'", "extends past end of file"}},
      {"offset near 2^64", [](B b) { PatchU64(b, OffsetAt(b, "tensor.c", 1), ~uint64_t{31}); },
       {"tensor 2 'tensor.c'", "extends past end of file", "2^64 or more"}},
      {"misaligned offset", [](B b) { PatchU64(b, OffsetAt(b, "tensor.c", 1), 128 + 4); },
       {"tensor 2 'tensor.c'", "not a multiple of the alignment 32"}},
      {"overlapping tensors", [](B b) { PatchU64(b, OffsetAt(b, "tensor.b", 2), 32); },
       {"tensor 0 'tensor.a'", "overlaps tensor 1 'tensor.b'"}},
      {"duplicate tensor name", [](B b) { Rename(b, "tensor.c", "tensor.a"); },
       {"tensor 2 'tensor.a'", "duplicate tensor name"}},
      {"data truncated", [](B b) { b.resize(b.size() - 32); }, {"tensor 2 'tensor.c'", "extends past end of file"}},
  };
}

TEST(GgufHostile, BaseFileIsValid) {
  std::vector<uint8_t> base = BaseFile();
  auto r = GgufFile::Parse(base, "test.gguf");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value()->tensors().size(), 3u);
  EXPECT_EQ(r.value()->FindTensor("tensor.c")->offset, 128u);  // the misaligned case relies on it
}

TEST(GgufHostile, EachMutationIsRejectedWithItsField) {
  for (const HostileCase& c : Cases()) {
    std::vector<uint8_t> bytes = BaseFile();
    c.mutate(bytes);
    auto r = GgufFile::Parse(bytes, "test.gguf");
    ASSERT_FALSE(r.ok()) << c.what;
    const std::string& msg = r.status().message();
    EXPECT_EQ(msg.rfind("[gguf] test.gguf: ", 0), 0u) << c.what << ": " << msg;
    for (const std::string& part : c.expect_in_message)
      EXPECT_NE(msg.find(part), std::string::npos) << c.what << ": '" << part << "' not in: " << msg;
  }
}

TEST(GgufHostile, Version2IsAccepted) {
  std::vector<uint8_t> bytes = BaseFile();
  PatchU32(bytes, 4, 2);
  auto r = GgufFile::Parse(bytes, "test.gguf");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value()->version(), 2u);
}

// Every prefix that cuts into the header, metadata, tensor table or tensor
// data is an error (only the trailing padding may be dropped).
TEST(GgufHostile, EveryTruncationIsAnError) {
  std::vector<uint8_t> base = BaseFile();
  auto full = GgufFile::Parse(base, "test.gguf");
  ASSERT_TRUE(full.ok());
  const GgufTensorInfo* last = full.value()->FindTensor("tensor.c");
  size_t data_end = full.value()->data_offset() + last->offset + last->n_bytes;
  for (size_t len = 0; len < data_end; ++len) {
    std::vector<uint8_t> cut(base.begin(), base.begin() + len);  // a copy, so ASan sees the real end
    auto r = GgufFile::Parse(cut, "test.gguf");
    EXPECT_FALSE(r.ok()) << "prefix of " << len << " bytes parsed";
    if (!r.ok()) {
      EXPECT_EQ(r.status().message().rfind("[gguf] test.gguf: ", 0), 0u) << r.status().message();
    }
  }
  EXPECT_TRUE(GgufFile::Parse(std::span(base.data(), data_end), "test.gguf").ok());
}

// Header with one key whose value is an array, then `body` as that value.
std::vector<uint8_t> OneArrayKey(const std::vector<uint8_t>& body) {
  std::vector<uint8_t> b = {'G', 'G', 'U', 'F', 3, 0, 0, 0};
  b.resize(8 + 16, 0);
  b[16] = 1;  // n_kv = 1, n_tensors = 0
  std::string key = "bomb";
  b.resize(b.size() + 8, 0);
  PatchU64(b, b.size() - 8, key.size());
  b.insert(b.end(), key.begin(), key.end());
  b.resize(b.size() + 4, 0);
  PatchU32(b, b.size() - 4, static_cast<uint32_t>(GgufType::kArray));
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

void AppendArrayHeader(std::vector<uint8_t>& b, GgufType elem, uint64_t count) {
  b.resize(b.size() + 12, 0);
  PatchU32(b, b.size() - 12, static_cast<uint32_t>(elem));
  PatchU64(b, b.size() - 8, count);
}

TEST(GgufHostile, NestedArrayDepthBomb) {
  std::vector<uint8_t> body;
  for (int k = 0; k < 1000; ++k) AppendArrayHeader(body, GgufType::kArray, 1);
  AppendArrayHeader(body, GgufType::kU8, 0);
  auto r = GgufFile::Parse(OneArrayKey(body), "bomb.gguf");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("kv 0 'bomb': arrays nested deeper than 8"), std::string::npos)
      << r.status().message();
}

TEST(GgufHostile, NestingWithinTheLimitIsFine) {
  std::vector<uint8_t> body;
  for (int k = 0; k < 7; ++k) AppendArrayHeader(body, GgufType::kArray, 1);
  AppendArrayHeader(body, GgufType::kU8, 0);
  auto r = GgufFile::Parse(OneArrayKey(body), "ok.gguf");
  ASSERT_TRUE(r.ok()) << r.status().message();
}

TEST(GgufHostile, TooManyNestedArrays) {
  const uint64_t count = (uint64_t{1} << 18) + 1;
  std::vector<uint8_t> body;
  AppendArrayHeader(body, GgufType::kArray, count);
  for (uint64_t k = 0; k < count; ++k) AppendArrayHeader(body, GgufType::kU8, 0);
  auto r = GgufFile::Parse(OneArrayKey(body), "wide.gguf");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'bomb'"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("nested arrays exceed"), std::string::npos) << r.status().message();
}

TEST(GgufHostile, OverlongKey) {
  GgufWriter w;
  w.SetU32(std::string(70000, 'k'), 1);
  auto r = GgufFile::Parse(w.Serialize(), "long.gguf");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("kv 0 key is 70000 bytes long"), std::string::npos) << r.status().message();
}

TEST(GgufHostile, EmptyAndTinyInputs) {
  for (size_t n : {0, 1, 3, 4, 7, 8, 23}) {
    std::vector<uint8_t> bytes(n, 0);
    EXPECT_FALSE(GgufFile::Parse(bytes).ok()) << n;
  }
  EXPECT_FALSE(GgufFile::Parse(std::span<const uint8_t>()).ok());
}

}  // namespace
}  // namespace plexus
