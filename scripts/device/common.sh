# Sourced by the scripts/device/*.sh runs: the carried binary and its
# libraries (.devcarry/, unpacked from .devpack/devcarry.tar.xz where it was
# carried packed), the output folder and a log that says when each step ended.
set -u
here=$(pwd)
if [ ! -x "$here/.devcarry/plexus" ] && [ -f "$here/.devpack/devcarry.tar.xz" ]; then
  tar -xJf "$here/.devpack/devcarry.tar.xz" -C "$here"
fi
export LD_LIBRARY_PATH=$here/.devcarry/lib
P=$here/.devcarry/plexus
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/plx
log() { echo "== $(date +%T) $*" | tee -a "$OUT/log"; }
log "$(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo); $(grep MemTotal /proc/meminfo)"
