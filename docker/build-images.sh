#!/usr/bin/env bash
# Builds the compose demo's images: relay (docker/Dockerfile), relay-nats and
# relay-prometheus, making the base image first when no registry has it.
# Compiles with BUILD_JOBS jobs (1) at a low CPU weight, so that a build does
# not starve the rest of the machine, and through ccache, whose directory
# (docker/ccache) goes into the build stage with the context and comes back
# out of it after the build: a one-line change recompiles one file.
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
cache=docker/ccache
start=$SECONDS
mkdir -p "$cache"
build relay-nats docker/nats.Dockerfile
build relay-prometheus docker/prometheus.Dockerfile

# The commit relay_build_info reports ("-dirty": tracked files differ from it).
commit=unknown
if command -v git >/dev/null 2>&1 && git rev-parse --short=12 HEAD >/dev/null 2>&1; then
  commit="$(git rev-parse --short=12 HEAD)"
  if [[ -n "$(git status --porcelain --untracked-files=no)" ]]; then
    commit+=-dirty
  fi
fi
relay_args=(--build-arg "BUILD_JOBS=${BUILD_JOBS:-1}" --build-arg "RELAY_COMMIT=$commit")
# The build stage under its own name, for its ccache below; the image then
# reuses its layers, as the context has not changed in between.
build relay-build docker/Dockerfile --target build "${relay_args[@]}"
build relay docker/Dockerfile "${relay_args[@]}"

# The next build's cache: the build stage's, which holds what this build
# compiled and nothing it did not use. After a build that compiled, the
# directory differs from the one the build started with, so the next build
# runs the compile step once more (all hits) before its layers cache.
container="$(docker create relay-build true)"
trap 'docker rm "$container" >/dev/null' EXIT
find "$cache" -mindepth 1 ! -name .gitkeep -delete
docker cp "$container:/ccache/." "$cache/"
echo "build-images.sh: ccache: $(du -sh "$cache" | cut -f1) in $cache"
echo "build-images.sh: images built in $((SECONDS - start))s"
