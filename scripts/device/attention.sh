#!/usr/bin/env bash
# Runs on the lent 16-core machine (one prepared run; see docs/PERFORMANCE.md,
# "Decode at depth"): the kernel tests on its AVX-512 targets, which this
# 2-core AVX2 box cannot run; the attention micro-benchmarks; and decode and
# prefill after 2048 tokens of context, the previous build (plexus-old) and
# this one alternating.
# Expects .devcarry/ (plexus, plexus-old, plexus_kernels_test,
# plexus_kernel_bench, lib/) or the same packed in .devpack/devcarry.tar.xz.
. "$(dirname "$0")/common.sh"
D=$here/.devcarry
timeout 150 "$D/plexus_kernels_test" > "$OUT/kernels_test.log" 2>&1; log "kernel tests: rc $? $(tail -1 "$OUT/kernels_test.log")"
grep -E "^\[  (FAILED|PASSED) " "$OUT/kernels_test.log" | head -20 | tee -a "$OUT/log"
grep -c "/AVX3_DL" "$OUT/kernels_test.log" | sed 's/^/AVX3_DL test lines: /' | tee -a "$OUT/log"
timeout 60 "$D/plexus_kernel_bench" --benchmark_filter='Attention' --benchmark_min_time=0.2 > "$OUT/attention_bench.txt" 2>&1
log "attention bench: rc $?"; tail -9 "$OUT/attention_bench.txt" | tee -a "$OUT/log"
M=/tmp/plx/llama1b-q4_0.gguf
timeout 60 "$P" synth --preset llama3.2-1b --vocab 32000 --type q4_0 --seed 3 -o "$M" 2>>"$OUT/log"; log "synth 1b: rc $?"
for round in 1 2; do
  for b in plexus-old plexus; do
    timeout 60 taskset -c 0-7 "$D/$b" bench -m "$M" -t 8 -p 512 -n 32 -d 2048 -r 1 --json > "$OUT/bench-$b-$round.json" 2>>"$OUT/log"
    log "$b round $round: rc $? $(grep -o '"pp_tps":[0-9.]*\|"tg_tps":[0-9.]*' "$OUT/bench-$b-$round.json" | tr '\n' ' ')"
  done
done
log done
