#!/usr/bin/env bash
# Runs on the lent 16-core machine (one prepared run; see docs/PERFORMANCE.md):
# the kernel tests on its AVX-512 targets, then MoE decode of the 17 GB
# Qwen3-30B-A3B-shaped Q4_0 file at 16 threads, the previous build
# (plexus-old) and this one alternating.
# Expects .devcarry/ (plexus, plexus-old, plexus_kernels_test, lib/) or the
# same packed in .devpack/devcarry.tar.xz.
. "$(dirname "$0")/common.sh"
D=$here/.devcarry
timeout 150 "$D/plexus_kernels_test" > "$OUT/kernels_test.log" 2>&1; log "kernel tests: rc $? $(tail -1 "$OUT/kernels_test.log")"
grep -E "^\[  FAILED  \]" "$OUT/kernels_test.log" | head -20 | tee -a "$OUT/log"
Q=/tmp/plx/qwen3-30b-a3b-q4_0.gguf
timeout 200 "$P" synth --preset qwen3-30b-a3b --type q4_0 --seed 3 -o "$Q" 2>>"$OUT/log"; log "synth moe: rc $?"
for round in 1 2; do
  for b in plexus-old plexus; do
    timeout 80 "$D/$b" bench -m "$Q" -t 16 -p 0 -n 16 -r 2 --json > "$OUT/moe-$b-$round.json" 2>>"$OUT/log"
    log "$b round $round: rc $? $(grep -o '"tg_tps":[0-9.]*\|"bandwidth_gbs":[0-9.]*\|"bandwidth_fraction":[0-9.]*' "$OUT/moe-$b-$round.json" | tr '\n' ' ')"
  done
done
log done
