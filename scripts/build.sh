#!/usr/bin/env bash
# Configures and builds one kind of build with CMake and Ninja.
#
#   scripts/build.sh [normal|asan|tsan|release|fuzz] [extra arguments for cmake --build]
#
#   normal   build/          -O2 -g1 (RelWithDebInfo, line tables only)
#   asan     build-asan/     -O1 -g1, AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan     build-tsan/     RelWithDebInfo, ThreadSanitizer; only the target hub_tests
#   release  build-release/  Release
#   fuzz     build-fuzz/     -O1 -g1, clang 14, libFuzzer + ASan + UBSan; only the
#                            target fuzz_targets (the libFuzzer targets of tests/fuzz)
#
# Every kind builds with warnings as errors. Compiles go through ccache, whose
# cache is ~/.cache/ccache unless CCACHE_DIR names another. Installs nothing:
# scripts/deps.sh does that.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

kind="${1:-normal}"
if (($# > 0)); then
  shift
fi

# ASan's own advice (and OSS-Fuzz's): -O1 keeps its reports exact and
# compiles in half the time of -O2; -g1 keeps file:line in every stack, which
# is all a report needs. Measured on relay.pb.cc and nats_backplane.cpp:
# 15.5 and 55 s at -O2 -g, 7.6 and 25 s at -O1 -g1. A machine with an empty
# ccache ran CI in 41 minutes, 15.5 of them the ASan build.
sanitizer_flags=("-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG")
# The normal build's stacks need file:line too, not every local's type: -g1
# compiles it about a fifth faster than -g, which a new CI machine, with no
# ccache yet, feels most.
normal_flags=("-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")

targets=()
case "$kind" in
  normal)
    dir=build
    cache_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "${normal_flags[@]}" -DRELAY_SANITIZE=)
    ;;
  asan)
    dir=build-asan
    cache_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "${sanitizer_flags[@]}"
      "-DRELAY_SANITIZE=address,undefined")
    ;;
  tsan)
    # Debian's gRPC is not built with TSan, so only the transport-free hub is
    # worth racing; its tests carry the CTest label "hub".
    dir=build-tsan
    cache_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DRELAY_SANITIZE=thread)
    targets=(--target hub_tests)
    ;;
  release)
    dir=build-release
    cache_args=(-DCMAKE_BUILD_TYPE=Release -DRELAY_SANITIZE=)
    ;;
  fuzz)
    # libFuzzer comes with clang only. The libraries are instrumented for
    # coverage (fuzzer-no-link) so that the fuzzer explores them too; Debian's
    # gRPC and protobuf, built with GCC, link in uninstrumented.
    dir=build-fuzz
    export CC=clang-14 CXX=clang++-14
    cache_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "${sanitizer_flags[@]}" -DRELAY_FUZZ=ON
      "-DRELAY_SANITIZE=fuzzer-no-link,address,undefined")
    targets=(--target fuzz_targets)
    ;;
  -h | --help)
    usage
    exit 0
    ;;
  *)
    echo "build.sh: unknown build kind '$kind'" >&2
    usage >&2
    exit 2
    ;;
esac

# One cache for every clone on this machine (CI builds a fresh clone in another
# folder): paths below the repository are hashed relative to it, and the
# compile directory is left out of the hash so that a clone elsewhere hits.
if [[ -z "${CCACHE_DIR:-}" ]]; then
  if [[ -n "${HOME:-}" && -d "$HOME" && -w "$HOME" ]]; then
    CCACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/ccache"
  else
    CCACHE_DIR="$root/.cache/ccache"
  fi
fi
export CCACHE_DIR
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}"
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"

build_dir="$root/$dir"

# A tree configured by another generator or for another checkout cannot be
# reconfigured in place; it holds nothing that a rebuild does not give back.
cache_file="$build_dir/CMakeCache.txt"
if [[ -f "$cache_file" ]]; then
  if ! grep -qx 'CMAKE_GENERATOR:INTERNAL=Ninja' "$cache_file" ||
    ! grep -qx "CMAKE_HOME_DIRECTORY:INTERNAL=$root" "$cache_file"; then
    echo "build.sh: $dir/ was configured differently; starting it afresh"
    rm -rf "$build_dir"
  fi
fi

start=$SECONDS
# Configuring costs seconds and repeats CMake's warnings on every build, and
# Ninja re-runs it by itself when a CMakeLists.txt changes: configure only a
# tree that was not configured with exactly these settings (the stamp holds
# them, so a tree changed by hand or by an older build.sh is set right).
configure_args=(-G Ninja -DRELAY_WERROR=ON "${cache_args[@]}")
stamp="$build_dir/build-sh-settings"
settings="${configure_args[*]} CC=${CC:-} CXX=${CXX:-}"
if [[ ! -f "$build_dir/build.ninja" || ! -f "$stamp" || "$(cat "$stamp")" != "$settings" ]]; then
  cmake -S "$root" -B "$build_dir" "${configure_args[@]}"
  printf '%s' "$settings" >"$stamp"
fi
cmake --build "$build_dir" -j "$(nproc)" "${targets[@]}" "$@"
echo "build.sh: $kind build in $dir/ done in $((SECONDS - start))s"
