#!/usr/bin/env bash
# Runs on the lent 16-core machine (one prepared run; see docs/PERFORMANCE.md):
# prefill of the 48-layer Qwen3-30B-A3B shape at 16 threads, the previous
# build (plexus-old) and this one alternating.
# Expects .devcarry/ (plexus, plexus-old, lib/) or the same packed in
# .devpack/devcarry.tar.xz.
. "$(dirname "$0")/common.sh"
D=$here/.devcarry
Q=/tmp/plx/qwen3-30b-a3b-q4_0.gguf
timeout 200 "$P" synth --preset qwen3-30b-a3b --type q4_0 --seed 3 -o "$Q" > /dev/null 2>>"$OUT/log"; log "synth moe: rc $?"
for round in 1 2; do
  for b in plexus-old plexus; do
    timeout 100 "$D/$b" bench -m "$Q" -t 16 -p 512 -n 0 -r 2 --json > "$OUT/moe-pp-$b-$round.json" 2>>"$OUT/log"
    log "$b round $round: rc $? $(grep -o '"pp_tps":[0-9.]*\|"pp_tps_sd":[0-9.]*' "$OUT/moe-pp-$b-$round.json" | tr '\n' ' ')"
  done
done
log done
