#!/usr/bin/env bash
# The compose demo in one command: NATS with JetStream, two relays sharing
# #lobby through it, a bot publishing a tick every second, a bot following,
# and Prometheus scraping both relays (docker/docker-compose.yml).
#
#   scripts/demo.sh          install Docker if missing, start its engine if none
#                            answers, build the images, start the demo, show a
#                            message crossing from relay1 to relay2
#   scripts/demo.sh --down   remove the demo's containers, network and volumes,
#                            and stop the engine if these scripts started it
#
# Runs as root (or with sudo for the install). COMPOSE_PROJECT_NAME
# (relay-demo) and PROMETHEUS_PORT (9090; empty for a free one) let a second
# copy run beside it, as CI's does.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
compose=(docker-compose -f "$root/docker/docker-compose.yml")

usage() {
  sed -n '2,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

# A one-off relay-chat in the demo's network, as guest (whose token opens
# #lobby), through the relay given.
guest_chat() { # relay arguments...
  local relay=$1
  shift
  "${compose[@]}" run --rm -T chat relay-chat --relay "$relay:50051" --user guest \
    --token-file /secrets/guest.token "$@"
}

down() {
  if command -v docker-compose >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    "${compose[@]}" --profile chat down --volumes --remove-orphans
  fi
  "$root/docker/engine.sh" stop
}

up() {
  "$root/docker/engine.sh" start
  "$root/docker/build-images.sh"
  # Waits for NATS and both relays to be healthy before the bots start, as the
  # depends_on conditions say.
  "${compose[@]}" up -d

  local probe
  probe="hello from relay1 at $(date -u +%H:%M:%S)"
  echo
  echo "demo.sh: publishing \"$probe\" through relay1, reading it back through relay2:"
  printf '%s\n' "$probe" | guest_chat relay1 --plain --room lobby >/dev/null
  local history
  history="$(guest_chat relay2 history lobby -n 20)"
  if ! grep -qF "$probe" <<<"$history"; then
    echo "demo.sh: relay2 does not have the message published through relay1:" >&2
    printf '%s\n' "$history" >&2
    return 1
  fi
  grep -F "$probe" <<<"$history"

  echo
  echo "demo.sh: the bots (publisher and follower, each on whichever relay it was given):"
  local waited=0
  until (($("${compose[@]}" logs --no-color follower | grep -c 'tick') >= 3)); do
    if ((waited >= 60)); then
      echo "demo.sh: the follower has shown no ticks in 60 s" >&2
      "${compose[@]}" logs --no-color --tail 20 publisher follower >&2
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  "${compose[@]}" logs --no-color --tail 3 follower

  local port
  port="$("${compose[@]}" port prometheus 9090)"
  cat <<MESSAGE

The demo is up. Join #lobby as guest:

  docker-compose -f docker/docker-compose.yml run --rm chat

Watch the bots:        docker-compose -f docker/docker-compose.yml logs -f follower
Stop a relay:          docker-compose -f docker/docker-compose.yml kill relay1
Prometheus:            http://$port/  (relay_messages_published_total, ...)
Stop and remove all:   scripts/demo.sh --down
MESSAGE
}

case "${1:-}" in
  "") up ;;
  --down) down ;;
  -h | --help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
