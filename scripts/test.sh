#!/usr/bin/env bash
# Installs what is missing, then runs every check CI runs, in this order:
#
#   format  clang-format --dry-run --Werror over the tracked *.cpp and *.hpp files
#   normal  build/: every test
#   asan    build-asan/: every test under AddressSanitizer (leaks too) and UBSan
#   tsan    build-tsan/: the tests labelled "hub" under ThreadSanitizer
#   fuzz    build-fuzz/: each libFuzzer target for FUZZ_SECONDS (60) on its
#           seeds, FUZZ_JOBS (one per core) at a time; each target is one test
#   docker  the compose demo on a real Docker engine (docker/ci.sh): the images
#           built, a message across relays, a relay killed with nothing lost,
#           a metric scraped; SKIPPED, said in the summary, where no engine can
#           be had
#
#   scripts/test.sh [format|normal|asan|tsan|fuzz|docker]...    (no argument: all six)
#
# Prints one summary line per stage and exits non-zero if any stage failed. A
# build that fails stops the builds after it (they would fail the same way);
# failing tests do not, so one run shows every sanitizer's findings. A fuzz
# target that crashes leaves its input in build-fuzz/fuzz-artifacts/.
#
# Optional sanitizer suppressions, used when present: tests/sanitizers/lsan.supp,
# tests/sanitizers/ubsan.supp, tests/sanitizers/tsan.supp.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

usage() {
  sed -n '2,16s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

all_stages=(format normal asan tsan fuzz docker)
stages=("$@")
if ((${#stages[@]} == 0)); then
  stages=("${all_stages[@]}")
fi
for stage in "${stages[@]}"; do
  case "$stage" in
    format | normal | asan | tsan | fuzz | docker) ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "test.sh: unknown stage '$stage'" >&2
      usage >&2
      exit 2
      ;;
  esac
done

"$root/scripts/deps.sh"

summary=()
failed_stages=()
total_passed=0
total_failed=0
build_broken=false
started=$SECONDS

note() { # stage text
  summary+=("$(printf '%-7s %s' "$1" "$2")")
}

fail() { # stage text
  note "$1" "$2"
  failed_stages+=("$1")
}

minutes() { # seconds
  printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

banner() {
  printf '\n==> %s\n' "$*"
}

check_format() {
  banner "format: clang-format --dry-run --Werror"
  if ! command -v clang-format >/dev/null 2>&1; then
    note format "skipped: clang-format is not installed"
    return
  fi
  local files=() file
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Tracked files, plus new ones not yet added (git ignores none of them), so
    # a developer sees the same verdict before committing as CI after.
    while IFS= read -r -d '' file; do
      if [[ -f "$file" ]]; then
        files+=("$file")
      fi
    done < <(git ls-files -z --cached --others --exclude-standard -- '*.cpp' '*.hpp')
  else
    while IFS= read -r -d '' file; do
      files+=("$file")
    done < <(find . \( -path './build*' -o -path ./.cache -o -path ./.git \) -prune -o \
      -type f \( -name '*.cpp' -o -name '*.hpp' \) -print0)
  fi
  if ((${#files[@]} == 0)); then
    note format "ok: no C++ files yet"
    return
  fi
  if clang-format --dry-run --Werror "${files[@]}"; then
    note format "ok: ${#files[@]} files formatted"
  else
    fail format "FAILED: run clang-format -i on the files named above"
  fi
}

# Appends "<separator>suppressions=FILE" to sanitizer options when the
# suppression file exists.
with_suppressions() { # options separator name
  local file="$root/tests/sanitizers/$3.supp"
  if [[ -f "$file" ]]; then
    printf '%s%ssuppressions=%s' "$1" "$2" "$file"
  else
    printf '%s' "$1"
  fi
}

# ASan (leaks too) and UBSan stop at the first finding, with a stack.
sanitizer_env=(
  "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1"
  "LSAN_OPTIONS=$(with_suppressions "" "" lsan)"
  "UBSAN_OPTIONS=$(with_suppressions "print_stacktrace=1:halt_on_error=1" : ubsan)"
)

# Builds one kind and sets build_seconds; fails, having noted why, when the
# build failed or an earlier one did.
build_kind() { # kind dir
  local kind=$1 dir=$2
  banner "$kind: build $dir/"
  if $build_broken; then
    fail "$kind" "skipped: an earlier build failed"
    return 1
  fi
  local build_start=$SECONDS
  if ! "$root/scripts/build.sh" "$kind"; then
    build_broken=true
    fail "$kind" "BUILD FAILED after $(minutes $((SECONDS - build_start)))"
    return 1
  fi
  build_seconds=$((SECONDS - build_start))
}

# Builds one kind and runs its tests with the given command, to which the test
# directory and the common ctest options are added.
build_and_test() { # kind dir command...
  local kind=$1 dir=$2
  shift 2
  build_kind "$kind" "$dir" || return 0

  banner "$kind: tests"
  local test_start=$SECONDS log="$root/$dir/test-sh-ctest.log" status
  set +e
  "$@" --test-dir "$root/$dir" --output-on-failure --no-tests=error -j2 2>&1 | tee "$log"
  status=$?
  set -e
  local times
  times="(build $(minutes "$build_seconds"), tests $(minutes $((SECONDS - test_start))))"

  # ctest closes with "N% tests passed, F tests failed out of T".
  local counts failed total
  counts="$(sed -nE 's/^.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*$/\1 \2/p' "$log" |
    tail -n 1)"
  if [[ -z "$counts" ]]; then
    fail "$kind" "FAILED: no tests ran (ctest exit $status) $times"
    return
  fi
  read -r failed total <<<"$counts"
  total_passed=$((total_passed + total - failed))
  total_failed=$((total_failed + failed))
  if ((status == 0 && failed == 0)); then
    note "$kind" "$((total - failed)) passed, $failed failed $times"
  else
    fail "$kind" "FAILED: $((total - failed)) passed, $failed failed $times"
  fi
}

fuzz_seconds="${FUZZ_SECONDS:-60}"
fuzz_jobs="${FUZZ_JOBS:-$(nproc)}"

# Fuzzes one target as the README shows it: a scratch folder first, where
# libFuzzer adds what it finds, and the committed seeds second, which it only
# reads; then runs one seed again as the README's replay of a crash input
# does. The exit status is the verdict.
fuzz_target() { # name
  local name=$1 dir="$root/build-fuzz"
  local scratch="$dir/fuzz-scratch/$name" seeds="$root/tests/fuzz/corpus/$name" seed
  rm -rf "$scratch"
  mkdir -p "$scratch" "$dir/fuzz-artifacts"
  env "${sanitizer_env[@]}" "$dir/tests/fuzz/fuzz_$name" -max_total_time="$fuzz_seconds" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$dir/fuzz-artifacts/$name-" "$scratch" "$seeds" >"$dir/fuzz-$name.log" 2>&1 ||
    return 1
  seed=$(find "$seeds" -type f | sort | head -n 1)
  env "${sanitizer_env[@]}" "$dir/tests/fuzz/fuzz_$name" "$seed" >>"$dir/fuzz-$name.log" 2>&1
}

# Every target with a seed corpus in tests/fuzz/corpus/, fuzz_jobs at a time.
fuzz_all() {
  build_kind fuzz build-fuzz || return 0
  banner "fuzz: ${fuzz_seconds}s per target, $fuzz_jobs at a time"
  local fuzz_start=$SECONDS names=() pids=() failures=() corpus name i runs
  for corpus in "$root"/tests/fuzz/corpus/*/; do
    names+=("$(basename "$corpus")")
  done
  for name in "${names[@]}"; do
    while (($(jobs -rp | wc -l) >= fuzz_jobs)); do
      wait -n || true
    done
    fuzz_target "$name" &
    pids+=($!)
  done
  for i in "${!names[@]}"; do
    name=${names[i]}
    if wait "${pids[i]}"; then
      runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$root/build-fuzz/fuzz-$name.log")"
      echo "fuzz_$name: ok, ${runs:-?} inputs"
    else
      failures+=("$name")
      tail -n 60 "$root/build-fuzz/fuzz-$name.log"
      echo "fuzz_$name: FAILED (log build-fuzz/fuzz-$name.log)"
    fi
  done
  local passed=$((${#names[@]} - ${#failures[@]})) failed=${#failures[@]}
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  local times
  times="(build $(minutes "$build_seconds"), fuzzing $(minutes $((SECONDS - fuzz_start))))"
  if ((${#names[@]} == 0)); then
    fail fuzz "FAILED: no seed corpus in tests/fuzz/corpus/ $times"
  elif ((failed == 0)); then
    note fuzz "$passed passed, 0 failed $times"
  else
    fail fuzz "FAILED: $passed passed, $failed failed: ${failures[*]} $times"
  fi
}

# The compose demo end to end; one check, counted as one test.
compose_demo() {
  banner "docker: the compose demo (docker/ci.sh)"
  local stage_start=$SECONDS status=0
  # The stages run one after another: the image's compile may take every
  # core (docker/build-images.sh keeps to one by default, for a shared machine).
  BUILD_JOBS="${BUILD_JOBS:-$(nproc)}" "$root/docker/ci.sh" || status=$?
  local took
  took="($(minutes $((SECONDS - stage_start))))"
  case $status in
    0)
      total_passed=$((total_passed + 1))
      note docker "1 passed, 0 failed $took"
      ;;
    77) note docker "SKIPPED: no Docker engine could be started here $took" ;;
    *)
      total_failed=$((total_failed + 1))
      fail docker "FAILED: docker/ci.sh exit $status $took"
      ;;
  esac
}

# GCC 12's ThreadSanitizer cannot map its shadow memory when the kernel
# randomises mmap with more than 28 bits; without randomisation it can.
tsan_runner=()
if [[ -r /proc/sys/vm/mmap_rnd_bits ]] && (($(cat /proc/sys/vm/mmap_rnd_bits) > 28)) &&
  setarch "$(uname -m)" -R true >/dev/null 2>&1; then
  tsan_runner=(setarch "$(uname -m)" -R)
fi

for stage in "${stages[@]}"; do
  case "$stage" in
    format)
      check_format
      ;;
    normal)
      build_and_test normal build ctest
      ;;
    asan)
      build_and_test asan build-asan env "${sanitizer_env[@]}" ctest
      ;;
    tsan)
      build_and_test tsan build-tsan "${tsan_runner[@]}" env \
        "TSAN_OPTIONS=$(with_suppressions "halt_on_error=1 second_deadlock_stack=1" " " tsan)" \
        ctest -L hub
      ;;
    fuzz)
      fuzz_all
      ;;
    docker)
      compose_demo
      ;;
  esac
done

banner "summary ($(minutes $((SECONDS - started))))"
printf '%s\n' "${summary[@]}"
if ((${#failed_stages[@]} > 0)); then
  echo "result: FAILED in ${failed_stages[*]}"
else
  echo "result: all stages passed"
fi
# Last, so that the run's closing line is its test count.
echo "total: $total_passed passed, $total_failed failed"
((${#failed_stages[@]} == 0))
