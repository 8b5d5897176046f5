#!/usr/bin/env bash
# Makes sure the engine has debian:bookworm-slim, the base of every image in
# docker/. Pulled where a registry answers; where none does (these machines),
# made from Debian's own mirror with debootstrap and imported, which needs
# root and about a minute.
#
#   docker/base-image.sh
set -euo pipefail

image=debian:bookworm-slim

if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
if timeout 60 docker pull "$image"; then
  exit 0
fi
echo "base-image.sh: cannot pull $image; making it with debootstrap"

if ((EUID != 0)); then
  echo "base-image.sh: debootstrap needs root" >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap
fi

# The mirror apt already uses here is one that answers; deb822 sources first,
# then the one-line format.
mirror="$(sed -n 's/^URIs: *\([^ ]*debian\/*\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
  head -n 1)"
if [[ -z "$mirror" ]]; then
  mirror="$(awk '$1 == "deb" && $3 ~ /^bookworm$/ {print $2; exit}' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"

dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
debootstrap --variant=minbase bookworm "$dir" "$mirror"
# Like the published image: no package lists or caches baked in, so every
# image built on it runs apt-get update first.
rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb
tar -C "$dir" -c . | docker import - "$image"
echo "base-image.sh: $image imported"
