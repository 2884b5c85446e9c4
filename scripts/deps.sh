# Shared by scripts/run and scripts/test: installs the Debian packages plexus
# needs (only those missing), then configures and builds with CMake.
# Sourced, not run: it defines functions.

PLEXUS_PACKAGES=(
  build-essential cmake pkg-config ccache git iproute2
  libssl-dev libicu-dev
  libopenblas-dev  # sgemm for prefill batches (kernels/matmul_blas.h)
  libhwy-dev libfmt-dev libspdlog-dev libcli11-dev nlohmann-json3-dev libpcre2-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libucx-dev ucx-utils  # UCX transport (shm, RDMA, tcp); ucx_perftest is the bench-comm floor
  python3 python3-numpy python3-jinja2
)
# bf16 prefill products on AMX / AVX-512 BF16 (kernels/matmul_bf16.h): x86
# only, where those instructions exist; elsewhere the build does without.
if [ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ]; then
  PLEXUS_PACKAGES+=(libdnnl-dev)
fi
# Only the tests need these: a browser for the dashboard tests (driven by
# playwright-core from npm) and the openssl tool for the https pull test.
PLEXUS_TEST_PACKAGES=(chromium openssl)

# plexus_install_deps [EXTRA_PACKAGE...]: PLEXUS_PACKAGES and the extras.
plexus_install_deps() {
  local missing=()
  for p in "${PLEXUS_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "plexus: installing ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# plexus_build BUILD_DIR [TARGET...]: Release build on all cores.
plexus_build() {
  local dir=$1
  shift
  cmake -S "$PLEXUS_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
  if [ $# -eq 0 ]; then
    cmake --build "$dir" -j "$(nproc)"
  else
    cmake --build "$dir" -j "$(nproc)" --target "$@"
  fi
}
