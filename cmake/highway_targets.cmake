# Restrict Highway's dynamic dispatch to the targets we care about. The
# scalar/EMU128 fallback stays so every machine runs something.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(PLEXUS_HWY_TARGETS "HWY_AVX2|HWY_AVX3|HWY_AVX3_DL|HWY_EMU128")
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(PLEXUS_HWY_TARGETS "HWY_NEON|HWY_SVE|HWY_SVE2|HWY_EMU128")
else()
  set(PLEXUS_HWY_TARGETS "HWY_EMU128")
endif()
# HWY_COMPILE_ONLY_* style: list the attainable set explicitly.
add_compile_definitions("HWY_TARGETS=(${PLEXUS_HWY_TARGETS})")
