#!/usr/bin/env bash
# Runs on the lent 16-core machine (one prepared run; see docs/PERFORMANCE.md):
#  1. bench-comm over tcp, shm and ucx (UCX_TLS=tcp and posix) for 2 and 4
#     local processes, with each transport's floor (ucx_perftest for ucx);
#  2. tp2 decode of a Llama-3.2-1B-shaped Q4_0 model over tcp, shm and ucx,
#     4 threads per process on cores of their own;
#  3. continuous batching: 1 vs 8 streams against `plexus serve` (8 threads);
#  4. a Qwen3-30B-A3B-shaped Q4_0 MoE: plexus bench's bytes per token against
#     the active parameters, and its fraction of the bandwidth bound.
# Expects the binary and its libraries in .devcarry/ (plexus, lib/, bin/ucx_perftest).
set -u
here=$(pwd)
export LD_LIBRARY_PATH=$here/.devcarry/lib PATH=$here/.devcarry/bin:$PATH
export UCX_MODULE_DIR=$here/.devcarry/lib/ucx
P=$here/.devcarry/plexus
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/plx
log() { echo "== $*" | tee -a "$OUT/log"; }
log "$(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo)"
for n in 2 4; do
  timeout 60 "$P" bench-comm --local $n --transport tcp --sizes 4,1k,16k,64k,1m --json > "$OUT/comm-tcp-$n.json" 2>>"$OUT/log"; log "tcp $n: rc $?"
  timeout 60 "$P" bench-comm --local $n --transport shm --sizes 4,1k,16k,64k,1m --json > "$OUT/comm-shm-$n.json" 2>>"$OUT/log"; log "shm $n: rc $?"
  UCX_TLS=tcp timeout 90 "$P" bench-comm --local $n --transport ucx --sizes 4,1k,16k,64k,1m --json > "$OUT/comm-ucxtcp-$n.json" 2>>"$OUT/log"; log "ucx tcp $n: rc $?"
done
UCX_TLS=posix,sysv,self timeout 60 "$P" bench-comm --local 2 --transport ucx --sizes 4,1k,16k,64k,1m --json > "$OUT/comm-ucxshm-2.json" 2>>"$OUT/log"; log "ucx shm 2: rc $?"
M=/tmp/plx/llama1b-q4_0.gguf
/usr/bin/time -f "synth 1b %e s" "$P" synth --preset llama3.2-1b --type q4_0 --seed 3 --sharp -o "$M" 2>>"$OUT/log"
echo secret-for-the-device-run > /tmp/plx/secret; chmod 600 /tmp/plx/secret
taskset -c 4-7 "$P" node --listen 127.0.0.1:7701 --secret-file /tmp/plx/secret -m "$M" --cache-dir /tmp/plx/c1 2>>"$OUT/nodes.log" &
sleep 1
taskset -c 0-3 "$P" generate -m "$M" -p "Once upon a time" -n 64 --threads 4 --ignore-eos --output json > "$OUT/tg-single.json" 2>>"$OUT/log"
log "single: $(grep -o '"decode_tokens_per_s":[0-9.]*' "$OUT/tg-single.json")"
for t in tcp shm ucx; do
  UCX_TLS=tcp taskset -c 0-3 "$P" generate -m "$M" -p "Once upon a time" -n 64 --threads 4 --ignore-eos --output json \
    --peers 127.0.0.1:7701 --secret-file /tmp/plx/secret --split tp2 --transport $t > "$OUT/tg-tp2-$t.json" 2>>"$OUT/log"
  log "tp2 $t: rc $? $(grep -o '"decode_tokens_per_s":[0-9.]*' "$OUT/tg-tp2-$t.json")"
done
kill %1 2>/dev/null; wait 2>/dev/null
timeout 100 python3 bench/serve_load.py --plexus "$P" -m "$M" -t 8 --parallel 8 --streams 1,8 --max-tokens 64 --json > "$OUT/serve-load.json" 2>>"$OUT/log"
log "serve load: rc $? $(tr '\n' ' ' < "$OUT/serve-load.json")"
rm -f "$M"
Q=/tmp/plx/qwen3-30b-a3b-q4_0.gguf
timeout 170 /usr/bin/time -f "synth 30b-a3b %e s" "$P" synth --preset qwen3-30b-a3b --type q4_0 --seed 3 -o "$Q" 2>>"$OUT/log"; log "synth moe: rc $?"
timeout 100 "$P" bench -m "$Q" -t 16 -p 16 -n 16 -r 2 --json > "$OUT/bench-moe.json" 2>>"$OUT/log"
log "bench moe: rc $? $(cat "$OUT/bench-moe.json")"
