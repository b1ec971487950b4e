#!/usr/bin/env bash
# Run `swift "$@"` in the current directory.
#
# - If `swift` is on the PATH (macOS, a machine with Swift installed), it is run directly.
# - Otherwise, on Debian/Ubuntu as root, Swift 6 runs inside a Debian trixie root with the
#   `swiftlang` package, provisioned once into a cache directory outside the repository:
#   $PORTWAY_SWIFT_ROOT (default /var/cache/portway/swift-trixie). About 535 MB downloaded,
#   3.3 GB on disk, ~1 min.
#
# Inside the root, swift runs in private mount and PID namespaces (its mounts vanish when it
# exits, concurrent runs cannot unmount each other's, no process outlives the run), with /proc,
# /dev, /sys and the host's /tmp mounted, and the repository (found with `git rev-parse` from
# this script's directory) bound at the same absolute path (so absolute paths, rpaths and
# LD_LIBRARY_PATH entries keep working). Also bound at the same path, when outside the
# repository and /tmp: the working directory, the values of --package-path, --scratch-path,
# --cache-path, --config-path, --security-path, --build-path, $TMPDIR, and every directory
# listed in $PORTWAY_SWIFT_BIND (colon separated).
#
# Passed through: PORTWAY_*, LD_LIBRARY_PATH, PKG_CONFIG_PATH, TMPDIR, TERM, NO_COLOR,
# RUST_BACKTRACE, RUST_LOG. HOME is /root inside the root, so SwiftPM caches persist there.
# Loopback networking works as on the host (a chroot shares the host's network namespace).
#
# Other settings: PORTWAY_SWIFT_MIRROR (default http://deb.debian.org/debian).
# The exit code is swift's.
set -euo pipefail

if command -v swift >/dev/null 2>&1; then
    exec swift "$@"
fi

log() { printf 'swift.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# run_child CMD...: run CMD with our stdin, forward INT/TERM/HUP to it and to its direct
# children, set rc to its exit code. (A foreground child would get no signal sent to this
# shell's pid alone, and the shell would act on it only after the child exits. The children:
# `unshare --fork` blocks INT and TERM itself, and swift-test does not pass TERM on to the test
# process.)
child=
# shellcheck disable=SC2329 # called from traps
forward() {
    [[ -n "$child" ]] || return 0
    local pids
    pids=$(cat /proc/"$child"/task/*/children 2>/dev/null || true)
    # shellcheck disable=SC2086 # word splitting wanted
    kill -s "$1" "$child" $pids 2>/dev/null || true
}
run_child() {
    trap 'forward INT' INT
    trap 'forward TERM' TERM
    trap 'forward HUP' HUP
    # `trap -` undoes the SIGINT/SIGQUIT ignore bash gives background jobs; `<&0` keeps stdin.
    (
        trap - INT QUIT
        exec "$@"
    ) <&0 &
    child=$!
    while :; do
        if wait "$child"; then rc=0; else rc=$?; fi
        # wait also returns (>128) when a trapped signal arrives: wait again until it is gone.
        if kill -0 "$child" 2>/dev/null; then continue; fi
        if wait "$child" 2>/dev/null; then rc=0; else rc=$?; fi
        break
    done
    child=
    trap - INT TERM HUP
}

# Keep in sync with the help text above.
PASSTHROUGH_VARS=(LD_LIBRARY_PATH PKG_CONFIG_PATH TMPDIR TERM NO_COLOR RUST_BACKTRACE RUST_LOG)
PATH_OPTIONS=(--package-path --scratch-path --cache-path --config-path --security-path --build-path)
GUEST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
SUITE=trixie
PACKAGES=(swiftlang libc6-dev libstdc++-14-dev pkgconf)
MARKER_NAME=.portway-swift-ready

# The inner part runs in private mount and PID namespaces: its mounts vanish when it exits,
# concurrent runs cannot see or unmount each other's, and when it exits every process left in
# it (a test server, a test process whose parent was killed) is killed by the kernel.
in_namespaces() { # root args...
    run_child env __PORTWAY_SWIFT_NS_ROOT="$1" \
        unshare --mount --pid --fork --kill-child=SIGTERM --propagation private -- \
        bash "$script" "${@:2}"
}

# --------------------------------------------------------------------------------------------
# Inner part (see in_namespaces).
# --------------------------------------------------------------------------------------------
if [[ -n "${__PORTWAY_SWIFT_NS_ROOT:-}" ]]; then
    root=$__PORTWAY_SWIFT_NS_ROOT
    unset __PORTWAY_SWIFT_NS_ROOT
    mode=$1 # run | provision
    shift

    # The mounts vanish with this namespace anyway; unmount them explicitly all the same.
    mounted=() # mount points, in mount order
    # shellcheck disable=SC2329 # called from a trap
    cleanup() {
        local i
        for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
            umount -R "${mounted[i]}" 2>/dev/null || umount -R -l "${mounted[i]}" 2>/dev/null || true
        done
        mounted=()
    }
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP

    bind() { # host_dir guest_dir
        local src=$1 dst=$root$2
        mkdir -p "$dst"
        # Refuse mount points that resolve elsewhere through a symlink.
        [[ "$(cd "$dst" && pwd -P)" == "$dst" ]] || die "mount point $dst is not a plain directory"
        mount --rbind "$src" "$dst"
        mounted+=("$dst")
    }

    mkdir -p "$root/proc"
    mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
    mounted+=("$root/proc")
    bind /dev /dev
    bind /sys /sys

    if [[ "$mode" == provision ]]; then
        run_child chroot "$root" /usr/bin/env -i PATH="$GUEST_PATH" HOME=/root LANG=C.UTF-8 \
            DEBIAN_FRONTEND=noninteractive /bin/sh -euc '
                apt-get update -q
                apt-get install -y -q --no-install-recommends "$@"
                apt-get clean
                rm -rf /var/lib/apt/lists/*
                swift --version
                find /tmp -mindepth 1 -delete
            ' sh "${PACKAGES[@]}"
        exit "$rc"
    fi

    # mode == run: "$1" is the working directory, "$2" the number of directories to bind,
    # then those directories, then swift's arguments.
    cwd=$1
    nbind=$2
    shift 2
    binds=("${@:1:nbind}")
    shift "$nbind"

    bind /tmp /tmp
    for dir in "${binds[@]}"; do
        bind "$dir" "$dir"
    done

    env_args=(PATH="$GUEST_PATH" HOME=/root LANG=C.UTF-8)
    # Swift leaves TemporaryDirectory.* behind in $TMPDIR on every run: unless the caller set
    # TMPDIR, give it a directory of its own in /tmp, removed afterwards.
    if [[ -z "${TMPDIR:-}" ]]; then
        run_tmp=$(mktemp -d /tmp/portway-swift.XXXXXX)
        env_args+=(TMPDIR="$run_tmp")
        trap 'rm -rf "$run_tmp"; cleanup' EXIT
    fi
    while IFS= read -r name; do
        env_args+=("$name=${!name}")
    done < <(compgen -e | grep -E '^PORTWAY_' || true)
    for name in "${PASSTHROUGH_VARS[@]}"; do
        if [[ -n "${!name+set}" ]]; then env_args+=("$name=${!name}"); fi
    done

    run_child chroot "$root" /usr/bin/env -i -C "$cwd" "${env_args[@]}" swift "$@"
    exit "$rc"
fi

# --------------------------------------------------------------------------------------------
# Outer part.
# --------------------------------------------------------------------------------------------
[[ "$(uname -s)" == Linux ]] || die "swift is not on the PATH; install Swift 6 (https://swift.org/install)"
[[ -r /etc/debian_version ]] || die "swift is not on the PATH, and provisioning a Swift root needs Debian or Ubuntu; install Swift 6"
[[ $EUID -eq 0 ]] || die "swift is not on the PATH; run as root to provision a Debian trixie root with Swift 6, or install Swift 6"
for tool in unshare flock chroot mount umount findmnt; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing"
done

script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/$(basename "${BASH_SOURCE[0]}")
# Outside a git checkout (a source archive), the repository is the parent of scripts/.
repo=$(git -C "$(dirname "$script")" rev-parse --show-toplevel 2>/dev/null) ||
    repo=$(dirname "$(dirname "$script")")
repo=$(cd "$repo" && pwd -P)

root=${PORTWAY_SWIFT_ROOT:-/var/cache/portway/swift-trixie}
[[ "$root" == /* ]] || die "PORTWAY_SWIFT_ROOT must be an absolute path: $root"
mkdir -p "$(dirname "$root")"
root=$(cd "$(dirname "$root")" && pwd -P)/$(basename "$root")
[[ "$root" != / && "$(basename "$root")" != . && "$(basename "$root")" != .. ]] ||
    die "bad PORTWAY_SWIFT_ROOT: $root"
case "$root/" in
"$repo"/*) die "PORTWAY_SWIFT_ROOT must be outside the repository: $root" ;;
esac
partial=$root.partial
marker=$root/$MARKER_NAME
mirror=${PORTWAY_SWIFT_MIRROR:-http://deb.debian.org/debian}

mounts_under() { # dir: prints mount points at or under dir (in this namespace)
    findmnt -rn -o TARGET | awk -v d="$1" '$0 == d || index($0, d "/") == 1'
}

provision() {
    local started=$SECONDS
    log "provisioning Swift 6 in $root (one time, ~1 min, ~535 MB download, 3.3 GB on disk)"
    if [[ -n "$(mounts_under "$partial")" ]]; then
        die "something is mounted under $partial; unmount it and retry"
    fi
    if [[ -e "$partial" ]]; then
        log "removing unfinished $partial from an earlier run"
        rm -rf --one-file-system "$partial"
    fi
    local missing=() pkg
    for pkg in debootstrap debian-archive-keyring; do
        dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        log "installing ${missing[*]} on the host"
        {
            DEBIAN_FRONTEND=noninteractive apt-get update -q &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
        } >"$partial.log" 2>&1 || {
            tail -n 30 "$partial.log" >&2
            die "installing ${missing[*]} failed (log: $partial.log)"
        }
    fi
    local suite_script=()
    if [[ ! -e /usr/share/debootstrap/scripts/$SUITE && -e /usr/share/debootstrap/scripts/sid ]]; then
        suite_script=(/usr/share/debootstrap/scripts/sid)
    fi
    local keyring=()
    if [[ -r /usr/share/keyrings/debian-archive-keyring.gpg ]]; then
        keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
    fi
    mkdir -p "$partial"
    : >"$partial.log"
    log "debootstrap $SUITE from $mirror"
    run_child debootstrap --variant=minbase "${keyring[@]}" "$SUITE" "$partial" "$mirror" \
        "${suite_script[@]}" >>"$partial.log" 2>&1
    if ((rc != 0)); then
        tail -n 30 "$partial.log" >&2
        die "debootstrap failed or was interrupted (exit $rc; log: $partial.log)"
    fi
    # Loopback names for tests that talk to servers on 127.0.0.1 / ::1.
    if ! grep -qE '^[[:space:]]*127\.0\.0\.1[[:space:]].*\blocalhost\b' "$partial/etc/hosts" 2>/dev/null; then
        printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >>"$partial/etc/hosts"
    fi
    log "installing ${PACKAGES[*]}"
    in_namespaces "$partial" provision >>"$partial.log" 2>&1
    if ((rc != 0)); then
        tail -n 30 "$partial.log" >&2
        die "installing ${PACKAGES[*]} failed or was interrupted (exit $rc; log: $partial.log)"
    fi
    grep -E '^Swift version|swift-driver version' "$partial.log" >&2 || true
    grep -E '^Swift version' "$partial.log" >"$partial/$MARKER_NAME" || die "swift --version failed (log: $partial.log)"
    if [[ -n "$(mounts_under "$partial")" ]]; then
        die "mounts left under $partial after provisioning"
    fi
    mv -T "$partial" "$root"
    rm -f "$partial.log"
    log "provisioned in $((SECONDS - started)) s"
}

# Shared lock while running, exclusive while provisioning: runs go on side by side, and
# nothing runs in a root that is being provisioned.
exec {lockfd}>"$root.lock"
if ! flock -s -n "$lockfd"; then
    log "waiting for another run to finish provisioning ($root.lock)"
    flock -s "$lockfd"
fi
if [[ ! -f "$marker" ]]; then
    flock -u "$lockfd"
    if ! flock -x -n "$lockfd"; then
        log "waiting for another run to finish provisioning ($root.lock)"
        flock -x "$lockfd"
    fi
    if [[ ! -f "$marker" ]]; then
        if [[ -e "$root" ]]; then
            die "$root exists but is not a finished Swift root (no $MARKER_NAME); remove it and retry"
        fi
        provision
    fi
    flock -s "$lockfd" # downgrade
fi

# Directories to bind at the same path: the repository, the working directory, path options,
# $TMPDIR, $PORTWAY_SWIFT_BIND. Host system directories are never bound over the root's own.
cwd=$(pwd -P)
candidates=("$repo" "$cwd")
prev=
for arg in "$@"; do
    for opt in "${PATH_OPTIONS[@]}"; do
        value=
        if [[ "$prev" == "$opt" ]]; then value=$arg; fi
        if [[ "$arg" == "$opt="* ]]; then value=${arg#"$opt="}; fi
        if [[ -n "$value" ]]; then
            [[ "$value" == /* ]] || value=$cwd/$value
            # A path that does not exist yet (a scratch path): bind its nearest existing parent.
            while [[ ! -d "$value" ]]; do value=$(dirname "$value"); done
            candidates+=("$(cd "$value" && pwd -P)")
        fi
    done
    prev=$arg
done
if [[ -n "${TMPDIR:-}" && -d "$TMPDIR" ]]; then
    candidates+=("$(cd "$TMPDIR" && pwd -P)")
fi
if [[ -n "${PORTWAY_SWIFT_BIND:-}" ]]; then
    IFS=: read -r -a extra <<<"$PORTWAY_SWIFT_BIND"
    for dir in "${extra[@]}"; do
        [[ -n "$dir" ]] || continue
        [[ -d "$dir" ]] || die "PORTWAY_SWIFT_BIND: not a directory: $dir"
        candidates+=("$(cd "$dir" && pwd -P)")
    done
fi

binds=()
covered() { # dir: is it /tmp or under a directory already chosen?
    local d
    for d in /tmp "${binds[@]}"; do
        [[ "$1" == "$d" || "$1" == "$d"/* ]] && return 0
    done
    return 1
}
system_dir() { # would binding this directory hide part of the root's own system?
    case "$1" in
    / | /bin | /bin/* | /sbin | /sbin/* | /lib | /lib/* | /lib32 | /lib32/* | /lib64 | /lib64/* | \
        /libx32 | /libx32/* | /usr | /usr/* | /etc | /etc/* | /proc | /proc/* | /sys | /sys/* | \
        /dev | /dev/* | /run | /run/* | /boot | /boot/* | /root | /home | /opt | /srv | /mnt | \
        /media | /var | /var/lib | /var/cache | /var/log | /var/tmp | /var/lib/dpkg | /var/lib/dpkg/* | \
        /var/lib/apt | /var/lib/apt/* | /var/cache/apt | /var/cache/apt/*) return 0 ;;
    esac
    case "$1/" in "$root"/*) return 0 ;; esac
    return 1
}
while IFS= read -r dir; do
    [[ -n "$dir" ]] || continue
    covered "$dir" && continue
    if system_dir "$dir" || [[ "$root/" == "$dir"/* ]]; then
        if [[ "$dir" != "$cwd" ]]; then die "cannot bind $dir into the Swift root $root"; fi
        if [[ "$dir" != / ]]; then
            log "warning: not binding the working directory $dir into the Swift root; the root's own is used"
        fi
        continue
    fi
    binds+=("$dir")
done < <(printf '%s\n' "${candidates[@]}" | awk '{ print length($0) "\t" $0 }' | sort -n -s | cut -f2-)

guest_cwd=$cwd
if ! covered "$cwd" && [[ ! -d "$root$cwd" ]]; then
    log "warning: $cwd does not exist in the Swift root; running in /"
    guest_cwd=/
fi

in_namespaces "$root" run "$guest_cwd" "${#binds[@]}" "${binds[@]}" "$@"

leftover=$(mounts_under "$root")
if [[ -n "$leftover" ]]; then
    log "warning: mounts left under $root: $(echo "$leftover" | tr '\n' ' ')"
fi
exit "$rc"
