#!/usr/bin/env bash
# Runs on the lent 16-core machine (one prepared run; see docs/PERFORMANCE.md,
# "Mixture of experts"). On a Qwen3-30B-A3B-shaped Q4_0 file (17 GB):
#  1. plexus bench with copied (huge-page arena) and mapped weights, 16 threads,
#     alternating, for the fraction of the bandwidth bound;
#  2. ep2 against tp2 over shm, two processes of 8 threads on cores of their
#     own, against one process of 8 threads: decode tokens/s and equal tokens.
# Expects the binary and its libraries in .devcarry/ or packed in
# .devpack/devcarry.tar.xz (common.sh).
. "$(dirname "$0")/common.sh"
Q=/tmp/plx/qwen3-30b-a3b-q4_0.gguf
timeout 200 "$P" synth --preset qwen3-30b-a3b --type q4_0 --seed 3 --sharp -o "$Q" 2>>"$OUT/log"; log "synth moe: rc $?"
for load in copy mmap copy mmap; do
  timeout 80 "$P" bench -m "$Q" -t 16 -p 0 -n 16 -r 2 --load $load --json > "$OUT/bench-$load.json" 2>>"$OUT/log"
  log "bench $load: rc $? $(cat "$OUT/bench-$load.json")"
done
echo secret-for-the-device-run > /tmp/plx/secret; chmod 600 /tmp/plx/secret
gen() { # $1: name, rest: extra flags
  local name=$1; shift
  timeout 90 taskset -c 0-7 "$P" generate -m "$Q" -p "Once upon a time" -n 32 --threads 8 --ignore-eos --output json "$@" \
    > "$OUT/gen-$name.json" 2>>"$OUT/log"
  log "$name: rc $? $(grep -o '"decode_tokens_per_s":[0-9.]*' "$OUT/gen-$name.json") tokens $(grep -o '"tokens":\[[0-9,]*' "$OUT/gen-$name.json" | md5sum | cut -c1-8)"
}
gen single --no-discovery
taskset -c 8-15 "$P" node --listen 127.0.0.1:7701 --no-discovery --secret-file /tmp/plx/secret -m "$Q" --cache-dir /tmp/plx/c1 2>>"$OUT/nodes.log" &
sleep 1
for split in ep2 tp2 ep2; do
  gen "$split" --peers 127.0.0.1:7701 --secret-file /tmp/plx/secret --split $split --transport shm
done
kill %1 2>/dev/null; wait 2>/dev/null
log done
