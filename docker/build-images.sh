#!/usr/bin/env bash
# Builds the compose demo's images: relay (docker/Dockerfile), relay-nats and
# relay-prometheus, making the base image first when no registry has it.
# Compiles with BUILD_JOBS jobs (1) at a low CPU weight, so that a build does
# not starve the rest of the machine.
#
#   docker/build-images.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# The classic builder: what Debian's docker.io 20.10 has without buildx, and
# what a newer client falls back to.
export DOCKER_BUILDKIT=0

"$root/docker/base-image.sh"

build() { # tag dockerfile [docker build arguments]
  echo "build-images.sh: $1"
  docker build --cpu-shares 128 -f "$2" -t "$1" "${@:3}" .
}
start=$SECONDS
build relay-nats docker/nats.Dockerfile
build relay-prometheus docker/prometheus.Dockerfile
build relay docker/Dockerfile --build-arg "BUILD_JOBS=${BUILD_JOBS:-1}"
echo "build-images.sh: images built in $((SECONDS - start))s"
