// Writer -> reader round trips: every value type, arrays (nested, of strings,
// empty), tensor tables with several types and alignments, byte-exact
// re-serialization, typed getters, and the writer's own argument checks.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "format/gguf.h"
#include "gguf_test_util.h"

namespace plexus {
namespace {

using testing::MakeArray;
using testing::MakeScalar;
using testing::SameValue;

std::unique_ptr<GgufFile> ParseOk(const std::vector<uint8_t>& bytes) {
  auto r = GgufFile::Parse(bytes, "test.gguf");
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : nullptr;
}

// One value of every scalar type, with extreme values that would show sign
// or width mistakes.
std::vector<std::pair<std::string, GgufValue>> AllScalars() {
  std::vector<std::pair<std::string, GgufValue>> kv;
  auto add = [&](const char* key, GgufType type, int64_t i, uint64_t u, double f) {
    GgufValue v = MakeScalar(type);
    v.i = i, v.u = u, v.f = f;
    kv.emplace_back(key, v);
  };
  add("t.u8", GgufType::kU8, 0, 255, 0);
  add("t.i8", GgufType::kI8, -128, 0, 0);
  add("t.u16", GgufType::kU16, 0, 65535, 0);
  add("t.i16", GgufType::kI16, -32768, 0, 0);
  add("t.u32", GgufType::kU32, 0, 4294967295u, 0);
  add("t.i32", GgufType::kI32, std::numeric_limits<int32_t>::min(), 0, 0);
  add("t.f32", GgufType::kF32, 0, 0, -1.5f);
  add("t.bool", GgufType::kBool, 1, 0, 0);
  add("t.u64", GgufType::kU64, 0, std::numeric_limits<uint64_t>::max(), 0);
  add("t.i64", GgufType::kI64, std::numeric_limits<int64_t>::min(), 0, 0);
  add("t.f64", GgufType::kF64, 0, 0, 3.141592653589793);
  GgufValue s = MakeScalar(GgufType::kString);
  s.s = std::string("with\0nul and ünïcode", 22);
  kv.emplace_back("t.string", s);
  kv.emplace_back("t.empty_string", MakeScalar(GgufType::kString));
  return kv;
}

std::vector<std::pair<std::string, GgufValue>> AllArrays() {
  std::vector<std::pair<std::string, GgufValue>> kv;
  GgufValue u8 = MakeArray(GgufType::kU8), i16 = MakeArray(GgufType::kI16), u64 = MakeArray(GgufType::kU64);
  GgufValue f64 = MakeArray(GgufType::kF64), b = MakeArray(GgufType::kBool), i64 = MakeArray(GgufType::kI64);
  u8.uints = {0, 1, 255};
  i16.ints = {-32768, 0, 32767};
  u64.uints = {std::numeric_limits<uint64_t>::max()};
  f64.floats = {1e300, -0.0};
  b.ints = {1, 0, 1};
  i64.ints = {std::numeric_limits<int64_t>::min(), -1};
  kv = {{"a.u8", u8}, {"a.i16", i16}, {"a.u64", u64}, {"a.f64", f64}, {"a.bool", b}, {"a.i64", i64}};
  kv.emplace_back("a.empty_u32", MakeArray(GgufType::kU32));
  kv.emplace_back("a.empty_string", MakeArray(GgufType::kString));
  GgufValue strings = MakeArray(GgufType::kString);
  strings.strings = {"", "a", "▁the", std::string(300, 'x')};
  kv.emplace_back("a.strings", strings);
  // [[1, 2], [], [[], ["x"]]]: arrays of arrays, ragged, with an empty one.
  GgufValue inner1 = MakeArray(GgufType::kI32), inner2 = MakeArray(GgufType::kI32);
  inner1.ints = {1, 2};
  GgufValue deep = MakeArray(GgufType::kArray), deep_str = MakeArray(GgufType::kString);
  deep_str.strings = {"x"};
  deep.items = {MakeArray(GgufType::kF32), deep_str};
  GgufValue nested = MakeArray(GgufType::kArray);
  nested.items = {inner1, inner2, deep};
  kv.emplace_back("a.nested", nested);
  kv.emplace_back("a.empty_nested", MakeArray(GgufType::kArray));
  return kv;
}

TEST(GgufRoundTrip, EveryValueTypeAndArray) {
  auto kv = AllScalars();
  for (auto& entry : AllArrays()) kv.push_back(entry);
  GgufWriter w;
  for (const auto& [key, value] : kv) w.SetValue(key, value);
  w.SetF32Array("a.f32", {0.25f, -2.0f});
  w.SetI32Array("a.i32", {-7, 7});
  w.SetStringArray("a.strs", {"one", "two"});
  auto file = ParseOk(w.Serialize());
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->version(), 3u);
  ASSERT_EQ(file->metadata().size(), kv.size() + 3);
  for (size_t k = 0; k < kv.size(); ++k) {  // insertion order is kept
    EXPECT_EQ(file->metadata()[k].first, kv[k].first);
    EXPECT_TRUE(SameValue(file->metadata()[k].second, kv[k].second)) << kv[k].first;
  }
  EXPECT_EQ(file->Find("a.f32")->floats, (std::vector<double>{0.25, -2.0}));
  EXPECT_EQ(file->Find("a.i32")->ints, (std::vector<int64_t>{-7, 7}));
  EXPECT_EQ(file->Find("a.strs")->array_size(), 2u);
  EXPECT_EQ(file->Find("a.nested")->items[2].items[1].strings[0], "x");
  EXPECT_EQ(file->Find("a.empty_nested")->array_size(), 0u);
  EXPECT_EQ(file->tensors().size(), 0u);
}

TEST(GgufRoundTrip, ReserializationIsByteExact) {
  GgufWriter w;
  for (const auto& [key, value] : AllScalars()) w.SetValue(key, value);
  for (const auto& [key, value] : AllArrays()) w.SetValue(key, value);
  ASSERT_TRUE(w.AddTensor("x", DType::kQ8_0, {64, 3}, testing::Bytes(2 * 34 * 3, 1)).ok());
  std::vector<uint8_t> first = w.Serialize();
  auto file = ParseOk(first);
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(testing::CopyToWriter(*file).Serialize(), first);
}

TEST(GgufRoundTrip, SetterReplacesKeyInPlace) {
  GgufWriter w;
  w.SetU32("a", 1);
  w.SetString("b", "x");
  w.SetU32("a", 2);
  auto file = ParseOk(w.Serialize());
  ASSERT_EQ(file->metadata().size(), 2u);
  EXPECT_EQ(file->metadata()[0].first, "a");
  EXPECT_EQ(file->GetInt("a").value(), 2);
}

struct TensorCase {
  const char* name;
  DType type;
  std::vector<int64_t> shape;
};

void CheckTensorTable(uint32_t alignment) {
  std::vector<TensorCase> cases = {
      {"f32.vec", DType::kF32, {5}},
      {"f16.mat", DType::kF16, {3, 7}},
      {"q4_0.w", DType::kQ4_0, {64, 2}},
      {"q8_0.cube", DType::kQ8_0, {32, 2, 3}},
      {"q4_K.w", DType::kQ4_K, {256, 1, 1, 2}},
      {"bf16.b", DType::kBF16, {9}},
  };
  GgufWriter w;
  w.SetString("general.architecture", "test");
  w.set_alignment(alignment);
  std::vector<std::vector<uint8_t>> data;
  for (size_t k = 0; k < cases.size(); ++k) {
    size_t rows = 1;
    for (size_t d = 1; d < cases[k].shape.size(); ++d) rows *= cases[k].shape[d];
    data.push_back(testing::Bytes(RowBytes(cases[k].type, cases[k].shape[0]) * rows, static_cast<uint8_t>(k)));
    Status st = w.AddTensor(cases[k].name, cases[k].type, cases[k].shape, data.back());
    ASSERT_TRUE(st.ok()) << st.message();
  }
  std::vector<uint8_t> bytes = w.Serialize();
  auto file = ParseOk(bytes);
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->alignment(), alignment);
  EXPECT_EQ(file->data_offset() % alignment, 0u);
  ASSERT_EQ(file->tensors().size(), cases.size());
  for (size_t k = 0; k < cases.size(); ++k) {
    const GgufTensorInfo* t = file->FindTensor(cases[k].name);
    ASSERT_NE(t, nullptr) << cases[k].name;
    EXPECT_EQ(t, &file->tensors()[k]);
    EXPECT_EQ(t->type, cases[k].type);
    EXPECT_EQ(t->shape, cases[k].shape);
    EXPECT_EQ(t->offset % alignment, 0u);
    ASSERT_EQ(t->n_bytes, data[k].size());
    EXPECT_EQ(std::vector<uint8_t>(file->TensorData(*t), file->TensorData(*t) + t->n_bytes), data[k]);
    TensorView view = file->View(*t);
    EXPECT_EQ(view.cols, cases[k].shape[0]);
    EXPECT_EQ(static_cast<size_t>(view.rows) * view.row_bytes, t->n_bytes);
  }
  EXPECT_EQ(file->FindTensor("missing"), nullptr);
  EXPECT_EQ(testing::CopyToWriter(*file).Serialize(), bytes);
}

TEST(GgufRoundTrip, TensorTableDefaultAlignment) { CheckTensorTable(32); }
TEST(GgufRoundTrip, TensorTableAlignment64) { CheckTensorTable(64); }
TEST(GgufRoundTrip, TensorTableAlignment1) { CheckTensorTable(1); }

TEST(GgufRoundTrip, AlignmentKeySetsLayout) {
  GgufWriter w;
  w.SetU32("general.alignment", 128);
  ASSERT_TRUE(w.AddTensor("a", DType::kF32, {3}, testing::Bytes(12, 0)).ok());
  ASSERT_TRUE(w.AddTensor("b", DType::kF32, {3}, testing::Bytes(12, 0)).ok());
  auto file = ParseOk(w.Serialize());
  EXPECT_EQ(file->alignment(), 128u);
  EXPECT_EQ(file->FindTensor("b")->offset, 128u);
  EXPECT_EQ(file->metadata().size(), 1u);  // the key is not written twice
}

TEST(GgufGetters, TypedGettersAndFallbacks) {
  GgufWriter w;
  w.SetU32("u32", 7);
  w.SetU64("big", std::numeric_limits<uint64_t>::max());
  w.SetI32("neg", -3);
  w.SetF32("f", 0.5f);
  w.SetBool("b", true);
  w.SetString("s", "hi");
  auto file = ParseOk(w.Serialize());
  EXPECT_EQ(file->GetInt("u32").value(), 7);
  EXPECT_EQ(file->GetInt("neg").value(), -3);
  EXPECT_EQ(file->GetFloat("f").value(), 0.5);
  EXPECT_TRUE(file->GetBool("b").value());
  EXPECT_EQ(file->GetString("s").value(), "hi");
  EXPECT_EQ(file->GetInt("absent", 11).value(), 11);
  EXPECT_EQ(file->GetFloat("absent", 2.5).value(), 2.5);
  EXPECT_FALSE(file->GetBool("absent", false).value());
  EXPECT_EQ(file->GetString("absent", "d").value(), "d");

  auto big = file->GetInt("big");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("'big'"), std::string::npos) << big.status().message();
  auto wrong = file->GetString("u32", "fallback");  // present with the wrong type: still an error
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("key 'u32' has type u32, expected string"), std::string::npos);
  EXPECT_FALSE(file->GetFloat("u32").ok());
  EXPECT_FALSE(file->GetBool("u32").ok());
  EXPECT_FALSE(file->GetInt("s").ok());
  auto missing = file->GetInt("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "[gguf] test.gguf: key 'nope' not found");
}

TEST(GgufWriterChecks, AddTensorRejectsBadArguments) {
  GgufWriter w;
  ASSERT_TRUE(w.AddTensor("t", DType::kF32, {2}, testing::Bytes(8, 0)).ok());
  EXPECT_FALSE(w.AddTensor("t", DType::kF32, {2}, testing::Bytes(8, 0)).ok());   // duplicate
  EXPECT_FALSE(w.AddTensor("", DType::kF32, {2}, testing::Bytes(8, 0)).ok());    // empty name
  EXPECT_FALSE(w.AddTensor("u", DType::kF32, {2}, testing::Bytes(7, 0)).ok());   // wrong size
  EXPECT_FALSE(w.AddTensor("u", DType::kF32, {}, {}).ok());                      // no dims
  EXPECT_FALSE(w.AddTensor("u", DType::kF32, {1, 1, 1, 1, 1}, testing::Bytes(4, 0)).ok());
  EXPECT_FALSE(w.AddTensor("u", DType::kF32, {0}, {}).ok());
  EXPECT_FALSE(w.AddTensor("u", DType::kQ8_0, {31}, testing::Bytes(34, 0)).ok());  // partial block
  EXPECT_FALSE(w.AddTensor("u", DType::kF32, {int64_t{1} << 62, 8}, {}).ok());      // overflow
  EXPECT_FALSE(w.AddTensor("u", static_cast<DType>(99), {1}, testing::Bytes(4, 0)).ok());
}

TEST(GgufWriterChecks, WriteFileAndOpen) {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  ASSERT_TRUE(w.AddTensor("t", DType::kF16, {4}, testing::Bytes(8, 3)).ok());
  ASSERT_TRUE(w.AddTensor("u", DType::kF32, {3}, testing::Bytes(12, 5)).ok());  // 12 bytes: padding follows
  std::string path = ::testing::TempDir() + "/plexus_gguf_write_test.gguf";
  ASSERT_TRUE(w.WriteFile(path).ok());
  auto file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file.value()->name(), path);
  // The streamed file is byte for byte what Serialize builds in memory.
  const std::vector<uint8_t> expected = w.Serialize();
  const auto bytes = file.value()->bytes();
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.end()), expected);
  std::remove(path.c_str());
  EXPECT_FALSE(w.WriteFile("/nonexistent-dir/x.gguf").ok());
  auto missing = GgufFile::Open("/nonexistent-dir/x.gguf");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message().rfind("[gguf] /nonexistent-dir/x.gguf: ", 0), 0u);
}

TEST(GgufWriterChecks, ProducedTensorsAreMadeWhenWrittenAndMatchEagerOnes) {
  GgufWriter eager, lazy;
  ASSERT_TRUE(eager.AddTensor("t", DType::kF16, {4}, testing::Bytes(8, 3)).ok());
  ASSERT_TRUE(eager.AddTensor("u", DType::kQ8_0, {32, 2}, testing::Bytes(68, 5)).ok());
  int calls = 0;
  ASSERT_TRUE(lazy.AddTensor("t", DType::kF16, {4}, testing::Bytes(8, 3)).ok());
  ASSERT_TRUE(lazy.AddProducedTensor("u", DType::kQ8_0, {32, 2}, GgufWriter::TensorProducer([&calls] {
                                ++calls;
                                return testing::Bytes(68, 5);
                              })).ok());
  EXPECT_EQ(calls, 0);  // not made when added
  std::string path = ::testing::TempDir() + "/plexus_gguf_produced_test.gguf";
  ASSERT_TRUE(lazy.WriteFile(path).ok());
  EXPECT_EQ(calls, 1);
  auto file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().message();
  const auto bytes = file.value()->bytes();
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.end()), eager.Serialize());
  std::remove(path.c_str());
}

TEST(GgufWriterChecks, AProducerOfTheWrongSizeFailsTheWriteNamingTheTensor) {
  GgufWriter w;
  ASSERT_TRUE(w.AddTensor("t", DType::kF32, {2}, testing::Bytes(8, 0)).ok());
  ASSERT_TRUE(w.AddProducedTensor("short", DType::kF32, {4}, GgufWriter::TensorProducer([] { return testing::Bytes(12, 1); }))
                  .ok());
  EXPECT_FALSE(w.AddProducedTensor("none", DType::kF32, {4}, GgufWriter::TensorProducer()).ok());
  EXPECT_FALSE(
      w.AddProducedTensor("t", DType::kF32, {2}, GgufWriter::TensorProducer([] { return testing::Bytes(8, 0); })).ok());
  std::string path = ::testing::TempDir() + "/plexus_gguf_short_producer.gguf";
  Status st = w.WriteFile(path);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("tensor 'short': its producer made 12 bytes, shape and type need 16"), std::string::npos)
      << st.message();
  EXPECT_FALSE(std::filesystem::exists(path));  // no file with a hole in it
}

}  // namespace
}  // namespace plexus
