// Writes the GGUF fuzzer's seed corpus: small valid files covering every
// value type, arrays, several tensor types and alignments, plus a few
// nearly-valid ones (truncated, overlapping, bad alignment) that start the
// fuzzer next to the error paths. Usage: gguf_make_corpus <output dir>.
// The output is committed in tests/fuzz/corpus/gguf/.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "format/gguf.h"

namespace {

using namespace plexus;

std::vector<uint8_t> Filler(size_t n, uint8_t seed) {
  std::vector<uint8_t> out(n);
  for (size_t k = 0; k < n; ++k) out[k] = static_cast<uint8_t>(seed + 7 * k);
  return out;
}

void Add(GgufWriter& w, const char* name, DType type, std::vector<int64_t> shape) {
  size_t rows = 1;
  for (size_t d = 1; d < shape.size(); ++d) rows *= static_cast<size_t>(shape[d]);
  size_t n_bytes = RowBytes(type, shape[0]) * rows;
  Status st = w.AddTensor(name, type, std::move(shape), Filler(n_bytes, static_cast<uint8_t>(n_bytes)));
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.message().c_str());
    std::exit(1);
  }
}

GgufValue Value(GgufType type) {
  GgufValue v;
  v.type = type;
  return v;
}

GgufWriter Scalars() {
  GgufWriter w;
  const GgufType types[] = {GgufType::kU8,  GgufType::kI8,   GgufType::kU16, GgufType::kI16,
                            GgufType::kU32, GgufType::kI32,  GgufType::kF32, GgufType::kBool,
                            GgufType::kU64, GgufType::kI64,  GgufType::kF64};
  for (GgufType t : types) {
    GgufValue v = Value(t);
    v.i = -1, v.u = 200, v.f = 0.5;
    if (t == GgufType::kBool) v.i = 1;
    w.SetValue(std::string("s.") + GgufTypeName(t), v);
  }
  w.SetString("general.name", "scalars");
  return w;
}

GgufWriter Arrays() {
  GgufWriter w;
  w.SetStringArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "\xe2\x96\x81the", ""});
  w.SetF32Array("tokenizer.ggml.scores", {0, -1, -2.5f, 3, 4});
  w.SetI32Array("tokenizer.ggml.token_type", {2, 3, 3, 1, 1});
  GgufValue inner = Value(GgufType::kArray);
  inner.elem_type = GgufType::kU16;
  inner.uints = {1, 2, 3};
  GgufValue nested = Value(GgufType::kArray);
  nested.elem_type = GgufType::kArray;
  nested.items = {inner, inner};
  nested.items[1].uints.clear();
  w.SetValue("a.nested", nested);
  GgufValue empty = Value(GgufType::kArray);
  empty.elem_type = GgufType::kBool;
  w.SetValue("a.empty_bool", empty);
  return w;
}

GgufWriter Tensors() {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetU32("llama.embedding_length", 32);
  Add(w, "token_embd.weight", DType::kF16, {32, 4});
  Add(w, "blk.0.attn_q.weight", DType::kQ8_0, {32, 2});
  Add(w, "blk.0.ffn_up.weight", DType::kQ4_0, {64, 1});
  Add(w, "output_norm.weight", DType::kF32, {32});
  return w;
}

GgufWriter KQuants() {
  GgufWriter w;
  w.set_alignment(64);
  Add(w, "q4_K", DType::kQ4_K, {256});
  Add(w, "q6_K", DType::kQ6_K, {256});
  Add(w, "bf16", DType::kBF16, {3, 1, 1, 2});
  return w;
}

size_t Find(const std::vector<uint8_t>& bytes, const std::string& s) {
  return static_cast<size_t>(std::search(bytes.begin(), bytes.end(), s.begin(), s.end()) - bytes.begin());
}

void Write(const std::string& dir, const char* name, const std::vector<uint8_t>& bytes) {
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  std::printf("%s: %zu bytes\n", name, bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <output dir>\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  Write(dir, "01_empty.gguf", GgufWriter().Serialize());
  Write(dir, "02_scalars.gguf", Scalars().Serialize());
  Write(dir, "03_arrays.gguf", Arrays().Serialize());
  std::vector<uint8_t> tensors = Tensors().Serialize();
  Write(dir, "04_tensors.gguf", tensors);
  Write(dir, "05_kquants_align64.gguf", KQuants().Serialize());
  std::vector<uint8_t> v2 = Arrays().Serialize();
  v2[4] = 2;  // version 2 has the same layout as 3
  Write(dir, "06_version2.gguf", v2);

  // Nearly valid: each breaks one rule, so mutations land near the checks.
  std::vector<uint8_t> cut(tensors.begin(), tensors.end() - 40);
  Write(dir, "07_truncated_data.gguf", cut);
  std::vector<uint8_t> overlap = tensors;
  size_t q_offset = Find(overlap, "blk.0.attn_q.weight") + 19 + 4 + 16 + 4;  // name, n_dims, 2 dims, type
  std::memset(&overlap[q_offset], 0, 8);  // now starts where token_embd.weight does
  Write(dir, "08_overlap.gguf", overlap);
  GgufWriter bad_align = KQuants();
  bad_align.SetString("general.name", "bad alignment");
  std::vector<uint8_t> bad = bad_align.Serialize();
  bad[Find(bad, "general.alignment") + 17 + 4] = 3;
  Write(dir, "09_bad_alignment.gguf", bad);
  return 0;
}
