#!/usr/bin/env bash
# CI's docker stage (scripts/test.sh docker): the compose demo with a real
# engine, as a separate project (relay-ci, Prometheus on a free port) so that
# a demo already running is left alone.
#
# - scripts/demo.sh builds the images, starts the demo and checks that a
#   message published through relay1 is read back through relay2;
# - the README's join command, fed a line, publishes it into the bots' room;
# - relay1 is killed as the README shows (docker-compose kill): the
#   follower goes on through relay2, and the room's numbering and the
#   publisher's ticks it shows have no gap and no duplicate;
# - relay2's relay_build_info names the commit the image was built from;
# - Prometheus has scraped relay_messages_published_total from relay2;
# - scripts/demo.sh --down removes it all (and stops the engine if these
#   scripts started it).
#
# Exit status: 0 passed, 1 failed, 77 no Docker engine could be had here.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export COMPOSE_PROJECT_NAME=relay-ci PROMETHEUS_PORT=
compose=(docker-compose -f docker/docker-compose.yml)

if ! docker/engine.sh start; then
  exit 77
fi
trap 'scripts/demo.sh --down' EXIT

check() { # description
  echo "ci.sh: ok: $1"
}
die() {
  echo "ci.sh: FAILED: $*" >&2
  "${compose[@]}" logs --no-color --tail 30 >&2 || true
  exit 1
}

scripts/demo.sh
check "relay1 -> relay2 (scripts/demo.sh)"

# The follower's output since it was last (re)started.
follower_since=
follower_log() {
  docker logs ${follower_since:+--since "$follower_since"} "$("${compose[@]}" ps -q follower)" 2>&1
}

# The body of an HTTP GET, with bash alone: CI's packages have no HTTP client.
http_get() { # host port path
  exec 3<>"/dev/tcp/$1/$2"
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$3" "$1" >&3
  sed '1,/^\r$/d' <&3
  exec 3<&-
}

# A relay's own /metrics, straight from its container's address.
relay_scrape() { # relay
  local ip
  ip="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' \
    "$("${compose[@]}" ps -q "$1")")"
  http_get "$ip" 9464 /metrics
}
relay_metric() { # relay metric-line-prefix
  local value
  value="$(relay_scrape "$1" | sed -n "s/^$2 //p")"
  echo "${value:-0}"
}
follows_on() { relay_metric "$1" 'relay_open_streams{kind="follow"}'; }

# Polls a condition for up to a minute.
wait_for() { # description command...
  local description=$1 waited=0
  shift
  until "$@"; do
    ((waited < 60)) || die "$description: not within 60 s"
    sleep 1
    waited=$((waited + 1))
  done
}

line="guest joined through the README's command at $(date -u +%H:%M:%S)"
printf '%s\n' "$line" | "${compose[@]}" run --rm chat >/dev/null ||
  die "the join command could not publish"
follower_saw() { follower_log | grep -qF "guest: $line"; }
wait_for "the follower to show the guest's line" follower_saw
check "the join command's line reached the follower"

# Killing relay1 shows a failover only if the follower reads from it; the
# name balances over both relays, so restart the follower until it lands
# there (each try is a coin toss).
for ((try = 1; ; try++)); do
  if (($(follows_on relay1) == 1)); then
    break
  fi
  ((try <= 10)) || die "the follower never landed on relay1"
  follower_since="$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)"
  "${compose[@]}" restart -t 1 follower >/dev/null 2>&1
  follower_connected() { (($(follows_on relay1) + $(follows_on relay2) == 1)); }
  wait_for "the restarted follower to reach a relay" follower_connected
done
echo "ci.sh: the follower reads from relay1; the publisher has $(relay_metric relay1 \
  'relay_open_streams{kind="chat"}') chat stream(s) there"

ticks() { follower_log | grep -c 'publisher: tick'; }
ticks_grew_a_little() { (($(ticks) >= 3)); }
wait_for "ticks at the follower" ticks_grew_a_little
ticks_before=$(ticks)
# The README's command; the project name comes from COMPOSE_PROJECT_NAME.
"${compose[@]}" kill relay1 >/dev/null
echo "ci.sh: relay1 killed after $ticks_before ticks"
ticks_grew() { (($(ticks) >= ticks_before + 10)); }
wait_for "10 more ticks at the follower after relay1 was killed" ticks_grew
check "the follower carried on through relay2 ($(ticks) ticks)"

# Every number must appear once, from the first seen to the last.
contiguous() { # what numbers...
  local what=$1
  shift
  local sorted
  sorted="$(printf '%s\n' "$@" | sort -n)"
  local first last count unique
  first="$(head -n 1 <<<"$sorted")"
  last="$(tail -n 1 <<<"$sorted")"
  count="$(wc -l <<<"$sorted")"
  unique="$(uniq <<<"$sorted" | wc -l)"
  ((count == unique)) || die "$what: $((count - unique)) shown twice"
  ((last - first + 1 == count)) || die "$what: $((last - first + 1 - count)) missing between $first and $last"
  check "$what: $first to $last, none missing or twice"
}
mapfile -t seqs < <(follower_log | sed -nE 's/^\[lobby\] #([0-9]+) .*/\1/p')
contiguous "#lobby's positions at the follower" "${seqs[@]}"
mapfile -t tick_numbers < <(follower_log | sed -nE 's/^\[lobby\] #[0-9]+ publisher: tick ([0-9]+)$/\1/p')
contiguous "the publisher's ticks at the follower" "${tick_numbers[@]}"

# The image knows the commit it was built from (build-images.sh's
# RELAY_COMMIT; "-dirty" may follow), although its context has no .git.
commit="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
build_info="$(relay_scrape relay2 | grep '^relay_build_info' || true)"
grep -qF "commit=\"$commit" <<<"$build_info" ||
  die "relay_build_info does not name commit $commit: ${build_info:-none}"
check "relay2's $build_info"

address="$("${compose[@]}" port prometheus 9090)"
query() { http_get "${address%:*}" "${address##*:}" /api/v1/query?query=relay_messages_published_total; }
scraped() { query | grep -q '"instance":"relay2:9464"'; }
wait_for "Prometheus to have relay2's relay_messages_published_total" scraped
check "Prometheus scraped relay_messages_published_total: $(query |
  jq -c '[.data.result[] | {(.metric.instance): .value[1]}] | add')"
