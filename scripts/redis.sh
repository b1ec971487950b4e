#!/usr/bin/env bash
# Makes sure `redis-server` is on this machine for the Redis store's tests (each test starts
# its own on a free loopback port and stops it), and prints its path.
#
# - Already on the PATH (or named by $PORTWAY_REDIS_SERVER): nothing to do.
# - Otherwise, on Debian/Ubuntu as root: `apt-get install redis-server` (Debian 12 has
#   Redis 7.0). The package's own service is not needed and is not started here.
# - Anywhere else: an error saying how to get it.
set -euo pipefail

found=${PORTWAY_REDIS_SERVER:-$(command -v redis-server || true)}
if [[ -n $found && -x $found ]]; then
    echo "$found"
    exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "redis.sh: installing redis-server (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    # A package index from a fresh image may be empty or stale.
    apt-get install -y -q --no-install-recommends redis-server >&2 ||
        { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends redis-server >&2; }
    # The package may start its service where there is an init system; the tests use their own.
    command -v systemctl >/dev/null 2>&1 && systemctl disable --now redis-server >/dev/null 2>&1 || true
    command -v redis-server
    exit 0
fi
echo "redis.sh: redis-server is missing: install Redis 7 or Valkey (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis), or set PORTWAY_REDIS_SERVER to its path" >&2
exit 1
