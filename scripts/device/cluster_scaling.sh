#!/usr/bin/env bash
# Runs on the lent 16-core machine: decode scaling of a Llama-3.1-8B-shaped
# Q4_0 model, 1 process x 4 threads against tp2 / pp2 / tp4 / pp4 with 4
# threads per process (each pinned to its own cores), plus bench-comm.
# Expects the binary and its libraries in .devcarry/ (see docs/PERFORMANCE.md).
. "$(dirname "$0")/common.sh"
timeout 120 "$P" bench-comm --local 2 --json > "$OUT/comm2.json" 2>>"$OUT/log"; log "bench-comm 2: rc $?"
timeout 120 "$P" bench-comm --local 4 --json > "$OUT/comm4.json" 2>>"$OUT/log"; log "bench-comm 4: rc $?"
M=/tmp/plx/llama8b-q4_0.gguf
/usr/bin/time -f "synth %e s" "$P" synth --preset llama3.1-8b --type q4_0 --seed 3 --sharp -o "$M" 2>>"$OUT/log"
echo secret-for-the-scaling-run > /tmp/plx/secret; chmod 600 /tmp/plx/secret
PIN="taskset -c"; command -v taskset >/dev/null || PIN=""
start_nodes() {  # start_nodes N [node options]: nodes on cores 4-7, 8-11, 12-15
  n=$1; shift
  NODES=""
  for i in $(seq 1 "$n"); do
    c0=$((4 * i)); c1=$((4 * i + 3))
    ${PIN:+$PIN $c0-$c1} "$P" node --listen 127.0.0.1:$((7700 + i)) --secret-file /tmp/plx/secret -m "$M" \
      --cache-dir /tmp/plx/cache$i "$@" 2>>"$OUT/nodes.log" &
    NODES="$NODES${NODES:+,}127.0.0.1:$((7700 + i))"
  done
  sleep 2
}
run() {  # run LABEL [generate options...]
  label=$1; shift
  ${PIN:+$PIN 0-3} "$P" generate -m "$M" -p "Once upon a time" -n 64 --threads 4 --ignore-eos --output json "$@" \
    > "$OUT/$label.json" 2>>"$OUT/log"
  log "$label: rc $? $(grep -o '"decode_tokens_per_s":[0-9.]*' "$OUT/$label.json")"
}
run single
for spec in "tp2 1" "pp2 1" "tp4 3" "pp4 3"; do
  set -- $spec
  start_nodes "$2"
  run "$1" --peers "$NODES" --secret-file /tmp/plx/secret --split "$1"
  kill $(jobs -p) 2>/dev/null; wait 2>/dev/null
done
start_nodes 3 --emulate-link 300us,2.5gbit
run tp4-slow --peers "$NODES" --secret-file /tmp/plx/secret --split tp4 --emulate-link 300us,2.5gbit
kill $(jobs -p) 2>/dev/null; wait 2>/dev/null
timeout 200 ${PIN:+$PIN 0-3} "$P" bench -m "$M" -t 4 -p 64 -n 32 -r 2 --json > "$OUT/bench-single-4t.json" 2>>"$OUT/log"
log "bench 1x4: rc $? $(cat "$OUT/bench-single-4t.json")"
