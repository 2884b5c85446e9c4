#!/usr/bin/env bash
# Runs on the lent 16-core machine (one prepared run; see docs/PERFORMANCE.md):
# the kernel tests on its targets (the bf16 products' tests included), then
# prefill of the 1B Q4_0 shape and of the 48-layer Qwen3-30B-A3B shape at 16
# threads, bf16 products off (PLEXUS_BF16=0) and on, alternating.
# Expects .devcarry/ (plexus, plexus_kernels_test, lib/) or the same packed in
# .devpack/devcarry.tar.xz.
. "$(dirname "$0")/common.sh"
D=$here/.devcarry
grep -o -w 'amx_bf16\|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ' | tee -a "$OUT/log"; echo | tee -a "$OUT/log"
timeout 150 "$D/plexus_kernels_test" > "$OUT/kernels_test.log" 2>&1; log "kernel tests: rc $? $(tail -1 "$OUT/kernels_test.log")"
grep -E "^\[  FAILED  \]|MatMulBf16Test.*(OK|SKIPPED)" "$OUT/kernels_test.log" | head -20 | tee -a "$OUT/log"
M=/tmp/plx/llama1b-q4_0.gguf
"$P" synth --preset llama3.2-1b --vocab 32000 --type q4_0 --seed 3 -o "$M" > /dev/null 2>>"$OUT/log"; log "synth 1b: rc $?"
for round in 1 2; do
  for bf in 0 1; do
    PLEXUS_BF16=$bf timeout 60 "$P" bench -m "$M" -t 16 -p 512 -n 0 -r 2 --json > "$OUT/pp-1b-bf$bf-$round.json" 2>>"$OUT/log"
    log "1b pp512 bf16=$bf round $round: rc $? $(grep -o '"pp_tps":[0-9.]*\|"pp_tps_sd":[0-9.]*\|"prefill_gemm":"[^"]*"' "$OUT/pp-1b-bf$bf-$round.json" | tr '\n' ' ')"
  done
done
Q=/tmp/plx/qwen3-30b-a3b-q4_0.gguf
timeout 200 "$P" synth --preset qwen3-30b-a3b --type q4_0 --seed 3 -o "$Q" > /dev/null 2>>"$OUT/log"; log "synth moe: rc $?"
for bf in 0 1; do
  PLEXUS_BF16=$bf timeout 100 "$P" bench -m "$Q" -t 16 -p 512 -n 32 -r 1 --json > "$OUT/moe-bf$bf.json" 2>>"$OUT/log"
  log "moe bf16=$bf: rc $? $(grep -o '"pp_tps":[0-9.]*\|"tg_tps":[0-9.]*\|"bandwidth_fraction":[0-9.]*' "$OUT/moe-bf$bf.json" | tr '\n' ' ')"
done
log done
