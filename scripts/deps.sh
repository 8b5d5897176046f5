#!/usr/bin/env bash
# Installs the Debian packages that building, testing and running the relay
# need, and only those that are missing: on a machine that has them all this
# does nothing and needs neither root nor the network.
set -euo pipefail

# One list for this script and the Docker image's build stage.
read -r -a packages <<<"$(sed 's/#.*//' "$(dirname "${BASH_SOURCE[0]}")/packages.txt" | tr '\n' ' ')"

is_installed() {
  local status
  # shellcheck disable=SC2016  # ${...} is dpkg-query's format, not the shell's
  status="$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" || return 1
  [[ "$status" == installed ]]
}

missing=()
for package in "${packages[@]}"; do
  is_installed "$package" || missing+=("$package")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

# CI runs as root; a developer may not, and then sudo does the installing.
as_root=()
if ((EUID != 0)); then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "deps.sh: missing packages: ${missing[*]}" >&2
    echo "deps.sh: not root and no sudo; install them as root and run again" >&2
    exit 1
  fi
  as_root=(sudo)
fi

apt_get() {
  # env passes the variable through sudo, which would otherwise drop it. The
  # lock timeout waits for an unattended upgrade instead of failing at once.
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get -q -o DPkg::Lock::Timeout=300 "$@"
}

install_missing() {
  apt_get install -y --no-install-recommends "${missing[@]}"
}

echo "deps.sh: installing ${missing[*]}"

# A fresh machine may have no package lists at all: update first there. With
# lists present, try them as they are and update only if that fails (stale
# lists name package versions the mirror no longer has).
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
  apt_get update
  install_missing
elif ! install_missing; then
  echo "deps.sh: install failed; updating the package lists and trying again"
  apt_get update
  install_missing
fi

still_missing=()
for package in "${missing[@]}"; do
  is_installed "$package" || still_missing+=("$package")
done
if ((${#still_missing[@]} > 0)); then
  echo "deps.sh: still missing after install: ${still_missing[*]}" >&2
  exit 1
fi
