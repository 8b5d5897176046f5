#!/usr/bin/env bash
# Builds the Go reference relay from Debian 12 packages only (GOPATH mode, no
# module downloads). Installs the packages it needs when they are missing,
# generates the Go code of relay.proto into the build directory (never into
# the source tree) and prints the path of the binary on stdout.
#
#   bench/reference/build.sh            -> build-reference/relay-reference
#   BUILD_DIR=/tmp/x bench/reference/build.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build-reference}
proto_root=$root/protos
proto=relay/v1/relay.proto

say() { echo "build.sh: $*" >&2; }

# --- Debian packages -------------------------------------------------------
# golang-github-golang-protobuf-1-5-dev must be chosen explicitly: grpc's
# dependency would otherwise be met by 1-3, under which protoc-gen-go's
# (API v2) code crashes on oneofs. protoc-gen-go-grpc writes the stubs.
packages=(
  golang-go
  golang-google-grpc-dev
  golang-github-golang-protobuf-1-5-dev
  golang-google-protobuf-dev
  protobuf-compiler
  protoc-gen-go
  protoc-gen-go-grpc
)
missing=()
for package in "${packages[@]}"; do
  if [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null) != "install ok installed" ]]; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} > 0)); then
  say "installing ${missing[*]}"
  as_root=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || { say "need root or sudo to install ${missing[*]}"; exit 1; }
    as_root=(sudo)
  fi
  apt_install() {
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${packages[@]}" >&2
  }
  # Install the whole set in one go, so that apt resolves the alternatives
  # (protobuf 1-5, not 1-3) the way listed here.
  if ! apt_install; then
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update >&2
    apt_install
  fi
fi

# --- Code generation -------------------------------------------------------
# go_package "relay/v1;relayv1": the generated package lives at import path
# relay/v1 in a GOPATH of its own inside the build directory.
gopath=$build/gopath
generated=$gopath/src/relay/v1
stamp=$generated/.stamp
want=$(sha256sum <"$proto_root/$proto" | cut -d" " -f1)
want="$want $(protoc --version) $(protoc-gen-go --version 2>&1) $(protoc-gen-go-grpc --version 2>&1)"
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ||
      ! -f $generated/relay.pb.go || ! -f $generated/relay_grpc.pb.go ]]; then
  say "generating Go code from $proto"
  rm -rf "$generated"
  mkdir -p "$gopath/src"
  protoc -I"$proto_root" --go_out="$gopath/src" --go-grpc_out="$gopath/src" "$proto"
  echo "$want" >"$stamp"
fi

# --- Build -----------------------------------------------------------------
binary=$build/relay-reference
(
  cd "$here"
  unset GOFLAGS
  export GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOCACHE="$build/go-cache"
  go build -o "$binary" .
)
echo "$binary"
