// libFuzzer target for the GGUF reader (see docs/FUZZING.md).
//
// Any input must parse or fail with a tagged message; an accepted input must
// survive every accessor, and copying it through GgufWriter must give a file
// that parses and re-serializes to the same bytes (a fixed point after one
// round, since f32 NaN payloads may be normalized once).
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "format/gguf.h"

namespace {

using namespace plexus;

void Require(bool cond) {
  if (!cond) __builtin_trap();
}

void TouchValue(const GgufValue& v) {
  volatile size_t sink = v.array_size() + v.s.size();
  for (const std::string& s : v.strings) sink = sink + s.size();
  for (const GgufValue& item : v.items) TouchValue(item);
  (void)sink;
}

void TouchAll(const GgufFile& file) {
  for (const auto& [key, value] : file.metadata()) {
    Require(file.Find(key) == &value);
    (void)file.GetString(key);
    (void)file.GetInt(key);
    (void)file.GetFloat(key);
    (void)file.GetBool(key);
    (void)file.GetInt(key, 0);
    (void)GgufTypeName(value.type);
    TouchValue(value);
  }
  for (const GgufTensorInfo& t : file.tensors()) {
    Require(file.FindTensor(t.name) == &t);
    Require(t.n_elements() > 0 && t.n_bytes > 0);
    TensorView view = file.View(t);
    Require(static_cast<uint64_t>(view.rows) * view.row_bytes == t.n_bytes);
    const uint8_t* data = file.TensorData(t);
    volatile uint8_t sink = data[0] ^ data[t.n_bytes - 1];  // ASan checks both ends
    (void)sink;
  }
}

std::vector<uint8_t> Reserialize(const GgufFile& file) {
  GgufWriter w;
  for (const auto& [key, value] : file.metadata()) w.SetValue(key, value);
  w.set_alignment(static_cast<uint32_t>(file.alignment()));
  for (const GgufTensorInfo& t : file.tensors()) {
    const uint8_t* data = file.TensorData(t);
    Require(w.AddTensor(t.name, t.type, t.shape, std::vector<uint8_t>(data, data + t.n_bytes)).ok());
  }
  return w.Serialize();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = GgufFile::Parse(std::span<const uint8_t>(data, size), "fuzz");
  if (!parsed.ok()) {
    Require(parsed.status().message().rfind("[gguf] fuzz: ", 0) == 0);
    return 0;
  }
  const GgufFile& file = *parsed.value();
  TouchAll(file);
  // The writer pads to the alignment even with no tensors; skip the round
  // trip for huge (legal) alignments so the fuzzer does not spend its memory
  // limit on zero padding.
  if (file.alignment() > 4096) return 0;
  std::vector<uint8_t> once = Reserialize(file);
  auto reparsed = GgufFile::Parse(once, "fuzz");
  Require(reparsed.ok());
  TouchAll(*reparsed.value());
  Require(reparsed.value()->metadata().size() == file.metadata().size());
  Require(reparsed.value()->tensors().size() == file.tensors().size());
  Require(Reserialize(*reparsed.value()) == once);
  return 0;
}
