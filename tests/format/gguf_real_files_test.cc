// Reading real GGUF files written by llama.cpp's tools (from the shared data
// folder): known keys, tensor counts and shapes, and a byte-exact rewrite.
#include "format/gguf.h"
#include "gguf_test_util.h"

namespace plexus {
namespace {

std::string Model(const std::string& name) { return std::string(PLEXUS_SHARED_DIR) + "/models/" + name; }

std::unique_ptr<GgufFile> OpenOk(const std::string& path) {
  auto r = GgufFile::Open(path);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : nullptr;
}

TEST(GgufRealFiles, Stories260K) {
  auto file = OpenOk(Model("stories260K.gguf"));
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->version(), 3u);
  EXPECT_EQ(file->alignment(), 32u);
  EXPECT_EQ(file->metadata().size(), 19u);
  EXPECT_EQ(file->GetString("general.architecture").value(), "llama");
  EXPECT_EQ(file->GetInt("llama.embedding_length").value(), 64);
  EXPECT_EQ(file->GetInt("llama.block_count").value(), 5);
  EXPECT_EQ(file->GetInt("llama.attention.head_count").value(), 8);
  EXPECT_EQ(file->GetInt("llama.attention.head_count_kv").value(), 4);
  EXPECT_EQ(file->GetInt("llama.feed_forward_length").value(), 172);
  EXPECT_FLOAT_EQ(file->GetFloat("llama.attention.layer_norm_rms_epsilon").value(), 1e-5f);
  const GgufValue* tokens = file->Find("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->elem_type, GgufType::kString);
  EXPECT_EQ(tokens->array_size(), 512u);
  EXPECT_EQ(file->Find("tokenizer.ggml.scores")->floats.size(), 512u);

  ASSERT_EQ(file->tensors().size(), 48u);  // 5 layers x 9 + embeddings, output norm, output
  const GgufTensorInfo* embd = file->FindTensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->type, DType::kF32);
  EXPECT_EQ(embd->shape, (std::vector<int64_t>{64, 512}));
  EXPECT_EQ(embd->n_bytes, 64u * 512 * 4);
  const GgufTensorInfo* down = file->FindTensor("blk.4.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->shape, (std::vector<int64_t>{172, 64}));
  TensorView view = file->View(*down);
  EXPECT_EQ(view.cols, 172);
  EXPECT_EQ(view.rows, 64);
  EXPECT_EQ(view.row_bytes, 172u * 4);
  EXPECT_EQ(file->FindTensor("blk.5.ffn_down.weight"), nullptr);
}

TEST(GgufRealFiles, TinyRandomLlama2) {
  auto file = OpenOk(Model("llama-2-tiny-random.gguf"));
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->GetString("general.architecture").value(), "llama");
  EXPECT_EQ(file->GetString("general.name").value(), "LLaMA v2");
  EXPECT_EQ(file->GetInt("llama.embedding_length").value(), 8);
  EXPECT_EQ(file->Find("tokenizer.ggml.tokens")->array_size(), 32000u);
  EXPECT_EQ(file->Find("tokenizer.ggml.token_type")->elem_type, GgufType::kI32);
  ASSERT_EQ(file->tensors().size(), 12u);
  const GgufTensorInfo* out = file->FindTensor("output.weight");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->type, DType::kF16);
  EXPECT_EQ(out->shape, (std::vector<int64_t>{8, 32000}));
  EXPECT_EQ(file->FindTensor("output_norm.weight")->type, DType::kF32);
}

TEST(GgufRealFiles, VocabOnlyLlamaSpm) {
  auto file = OpenOk(Model("vocab/ggml-vocab-llama-spm.gguf"));
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->tensors().size(), 0u);
  EXPECT_EQ(file->metadata().size(), 22u);
  EXPECT_EQ(file->GetString("general.architecture").value(), "llama");
  EXPECT_EQ(file->GetString("tokenizer.ggml.model").value(), "llama");
  EXPECT_TRUE(file->GetBool("tokenizer.ggml.add_bos_token").value());
  EXPECT_FALSE(file->GetBool("tokenizer.ggml.add_eos_token").value());
  const GgufValue* tokens = file->Find("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  ASSERT_EQ(tokens->strings.size(), 32000u);
  EXPECT_EQ(tokens->strings[1], "<s>");
  EXPECT_EQ(tokens->strings[2], "</s>");
  // The file ends without padding; data_offset() is clamped to the file.
  EXPECT_LE(file->data_offset(), file->bytes().size());
}

// Files written by llama.cpp come back byte for byte through our writer
// (same key order, offsets, padding), which pins the writer's layout.
TEST(GgufRealFiles, RewriteIsByteExact) {
  for (const char* name : {"stories260K.gguf", "stories260K-F16.gguf", "llama-2-tiny-random.gguf"}) {
    auto file = OpenOk(Model(name));
    ASSERT_NE(file, nullptr);
    std::vector<uint8_t> rewritten = testing::CopyToWriter(*file).Serialize();
    std::vector<uint8_t> original(file->bytes().begin(), file->bytes().end());
    EXPECT_TRUE(rewritten == original) << name << ": " << rewritten.size() << " vs " << original.size() << " bytes";
  }
}

}  // namespace
}  // namespace plexus
