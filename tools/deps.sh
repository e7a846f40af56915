#!/bin/sh
# deps.sh [PACKAGE...] - install the Debian packages that corun's build
# needs, and any given as arguments (the tests' and the benchmarks' ones),
# when any is missing (as root, or through sudo).  Quiet when all are there.
set -e
PACKAGES="lua5.4 liblua5.4-dev libuv1-dev libcurl4-openssl-dev libssl-dev libhttp-parser-dev libreadline-dev pkg-config gcc make libc6-dev $*"
need=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    need="$need $p"
done
[ -z "$need" ] && exit 0
echo "corun: installing Debian packages:$need"
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO=sudo
else
  echo "corun: these packages are missing and I am neither root nor able to sudo:$need" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $need
