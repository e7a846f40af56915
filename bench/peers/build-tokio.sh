#!/bin/sh
# Build the Tokio peer (bench/peers/tokio) offline, from Debian's vendored
# crate sources in /usr/share/cargo/registry (see tokio/.cargo/config.toml).
# Installs librust-tokio-dev (which pulls the crates tokio's rt/sync/time
# features need) with apt-get when it is missing. cargo/rustc must be on PATH.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir="$here/tokio"

if ! ls -d /usr/share/cargo/registry/tokio-1.* >/dev/null 2>&1; then
    SUDO=
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends librust-tokio-dev
fi

command -v cargo >/dev/null || { echo "build-tokio.sh: cargo not found" >&2; exit 1; }

cd "$dir"
# The lock file depends on what the local Debian registry holds; regenerate
# it offline each time rather than keep one that may not match.
rm -f Cargo.lock
cargo build --release --offline
echo "built $dir/target/release/tokio-peer"
