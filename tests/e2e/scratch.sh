# shellcheck shell=bash
# Sourced by the end-to-end scripts that keep each command's output in a
# scratch folder of their own: makes $work (removed on exit), and fail,
# which shows the tail of every *.out there before failing.

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# fail MESSAGE: the outputs kept so far, then exit 1.
fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/*.out "$work"/*.err; do
    [[ -f $f ]] || continue
    echo "--- $f:" >&2
    tail -n 40 "$f" >&2 || true
  done
  exit 1
}
