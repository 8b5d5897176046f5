#!/usr/bin/env bash
# The developer's command lines the README shows that no other test runs:
# one test by name with CTest, one stage of scripts/test.sh (and its refusal
# of a stage it does not know), and clang-format -i on a file, after which
# the format check passes.
#
#   tests/e2e/dev_commands.sh BUILD
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build=$(cd "$1" && pwd)
# shellcheck source=tests/e2e/scratch.sh
source "$root/tests/e2e/scratch.sh"

# The README's `ctest --test-dir build -R 'room replays' --output-on-failure`.
ctest --test-dir "$build" -R 'room replays' --output-on-failure >"$work/ctest.out" 2>&1 ||
  fail "ctest -R 'room replays' failed"
grep -q "100% tests passed, 0 tests failed out of 1$" "$work/ctest.out" ||
  fail "ctest -R 'room replays' did not run exactly one test"

# `scripts/test.sh format`: that stage alone, its summary line, exit 0.
"$root/scripts/test.sh" format >"$work/format.out" 2>&1 || fail "scripts/test.sh format failed"
grep -qE "^format +ok: [0-9]+ files formatted" "$work/format.out" ||
  fail "scripts/test.sh format printed no format summary"
! grep -qE "^(normal|asan|tsan|fuzz|docker) " "$work/format.out" ||
  fail "scripts/test.sh format ran other stages"
status=0
"$root/scripts/test.sh" no-such-stage >"$work/unknown.out" 2>&1 || status=$?
[[ $status == 2 ]] || fail "scripts/test.sh no-such-stage exited $status, not 2"
grep -q "unknown stage 'no-such-stage'" "$work/unknown.out" ||
  fail "scripts/test.sh did not name the stage it does not know"

# `clang-format -i FILE` with the project's .clang-format: a file written
# anyhow passes the check once formatted.
mkdir "$work/tree"
cp "$root/.clang-format" "$work/tree/"
printf 'int  main( ){return 0 ;}\n' >"$work/tree/sample.cpp"
! clang-format --dry-run --Werror "$work/tree/sample.cpp" 2>/dev/null ||
  fail "the unformatted sample passed the check"
clang-format -i "$work/tree/sample.cpp"
clang-format --dry-run --Werror "$work/tree/sample.cpp" ||
  fail "clang-format -i left the sample unformatted"
echo "ctest -R, scripts/test.sh format, an unknown stage and clang-format -i: as the README says"
