#!/usr/bin/env bash
# A Docker engine for the demo and CI, on machines where none runs (no
# systemd, as in CI containers):
#
#   docker/engine.sh start   install docker.io and docker-compose when missing;
#                            when no engine answers, start dockerd in the
#                            background and wait until it does
#   docker/engine.sh stop    stop the dockerd that start started, by the PID it
#                            recorded; an engine started otherwise is left alone
#
# start exits 1, saying why, when no engine can be had (not root, or dockerd
# does not come up within a minute).
set -euo pipefail

state_dir="${XDG_RUNTIME_DIR:-/tmp}/relay-docker"
pid_file="$state_dir/dockerd.pid"
log_file="$state_dir/dockerd.log"

as_root=()
if ((EUID != 0)) && command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
fi

engine_answers() {
  docker info >/dev/null 2>&1
}

install_missing() {
  local missing=() command package
  for command in docker:docker.io docker-compose:docker-compose; do
    package=${command#*:}
    command -v "${command%%:*}" >/dev/null 2>&1 || missing+=("$package")
  done
  # The engine itself may be missing where a docker client is installed.
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  echo "engine.sh: installing ${missing[*]}"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get -q -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}"
}

start() {
  install_missing
  if engine_answers; then
    return 0
  fi
  if ((EUID != 0)); then
    echo "engine.sh: no Docker engine answers, and starting dockerd needs root" >&2
    return 1
  fi
  mkdir -p "$state_dir"
  echo "engine.sh: starting dockerd (log $log_file)"
  dockerd >"$log_file" 2>&1 &
  echo $! >"$pid_file"
  local waited=0
  until engine_answers; do
    if ! kill -0 "$(cat "$pid_file")" 2>/dev/null || ((waited >= 60)); then
      echo "engine.sh: dockerd did not come up; the end of its log:" >&2
      tail -n 20 "$log_file" >&2
      stop
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

stop() {
  [[ -f "$pid_file" ]] || return 0
  local pid
  pid="$(cat "$pid_file")"
  rm -f "$pid_file"
  kill -0 "$pid" 2>/dev/null || return 0
  echo "engine.sh: stopping dockerd (PID $pid)"
  kill "$pid"
  # dockerd stops its containers first: allow it the time that takes.
  local waited=0
  while kill -0 "$pid" 2>/dev/null && ((waited < 30)); do
    sleep 1
    waited=$((waited + 1))
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *)
    sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
    ;;
esac
