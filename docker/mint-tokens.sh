#!/bin/sh
# The compose demo's one-shot "tokens" service: makes the relays' HS256 secret
# (once: it stays in the volume, so tokens minted before still verify) and a
# token for each of the demo's users, valid in #lobby only. Runs as root
# because a fresh volume belongs to root; the files go to the relay user.
#
#   mint-tokens.sh DIR USER...
set -eu

dir=$1
shift
if [ ! -s "$dir/auth.key" ]; then
  # 64 hex digits: 32 random bytes, written as text so the file can be shown.
  head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$dir/auth.key.new"
  mv "$dir/auth.key.new" "$dir/auth.key"
fi
for user in "$@"; do
  relay-token --key "$dir/auth.key" --user "$user" --rooms lobby --ttl 30d >"$dir/$user.token"
done
chown relay:relay "$dir"/*
chmod 0400 "$dir"/*
echo "mint-tokens.sh: tokens for $* in $dir"
