# Compile Highway's dynamic dispatch only for the targets that matter instead
# of every target it knows: on x86 AVX2, AVX-512 (AVX3) and its VNNI/BF16
# variant (AVX3_DL, which Highway 1.0.3 adds only on request); on ARM NEON and
# SVE. The portable fallback stays so every CPU runs something (SCALAR with
# GCC < 12.3, where Highway marks EMU128 broken).
# Highway 1.0.3 always defines HWY_TARGETS itself, so the list is shaped by
# disabling targets, not by setting HWY_TARGETS. Never -march=native.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  add_compile_definitions("HWY_DISABLED_TARGETS=(HWY_SSSE3|HWY_SSE4)" HWY_WANT_AVX3_DL)
endif()
