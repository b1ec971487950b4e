#!/usr/bin/env bash
# make bench: the Portway gateway against nginx and a direct connection, on loopback, in one
# interleaved run; the medians and ratios go to bench/RESULTS.md (see bench/README.md).
#
# Settings (environment): ROUNDS (5), DURATION seconds per HTTP/WebSocket measurement (5),
# SESSIONS for the scale section (8000), STREAM_BYTES (1 GiB), SECTIONS (all of
# "http ws scale stream micro bindings store"), PIN (0; 1 pins processes to cores, see README),
# GATEWAY_THREADS (the gateway's runtime worker threads; default one per core), RESULTS
# (bench/RESULTS.md).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
SESSIONS=${SESSIONS:-8000}
STREAM_BYTES=${STREAM_BYTES:-1073741824}
SECTIONS=${SECTIONS:-http ws scale stream micro bindings store}
PIN=${PIN:-0}
GATEWAY_THREADS=${GATEWAY_THREADS:-}
RESULTS=${RESULTS:-$ROOT/bench/RESULTS.md}
BACKEND_PORT=18001 NGINX_PORT=18002 GATEWAY_PORT=18003 NGINX_AUTO_PORT=18004 SCALE_PORT=18005
REDIS_PORT=18006 SQLITE_GATEWAY_PORT=18007 REDIS_GATEWAY_PORT=18008
HOST="$BACKEND_PORT-bench-benchtoken01.localhost"
BIN=$ROOT/target/release/portway-bench
COMMAND="${BENCH_COMMAND:-bench/run.sh}"

say() { printf '\n== %s\n' "$*" >&2; }
has() { [[ " $SECTIONS " == *" $1 "* ]]; }

# --- what the run needs -------------------------------------------------------------------
need=()
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
command -v taskset >/dev/null || need+=(util-linux)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
say "building portway-bench (release)"
cargo build --release --locked -p portway-bench

WORK=$(mktemp -d /tmp/portway-bench.XXXXXX)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
OUT=$WORK/results.jsonl
: >"$OUT"

# With PIN=1 the load generators run on core 0 and the servers under test (the proxy and the
# backend) on core 1; see README.md for why. PIN=0 lets the scheduler place everything.
CLIENT=() SERVER=()
if [[ $PIN == 1 ]]; then CLIENT=(taskset -c 0) SERVER=(taskset -c 1); fi

wait_port() {
    local i
    for i in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    return 1
}

start() { # start NAME PORT command...: runs in the background, remembers its pid
    local name=$1 port=$2
    shift 2
    "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    eval "${name}_PID=$!"
    wait_port "$port"
}

stop() { # stop NAME
    local var="${1}_PID"
    kill "${!var}" 2>/dev/null || true
    wait "${!var}" 2>/dev/null || true
}

nginx_conf() { # nginx_conf DIR WORKERS PORT
    mkdir -p "$1"
    sed -e "s|@WORKERS@|$2|; s|@DIR@|$1|g; s|@LISTEN@|127.0.0.1:$3|g" \
        -e "s|@BACKEND_PORT@|$BACKEND_PORT|g; s|@BACKEND@|127.0.0.1:$BACKEND_PORT|g" \
        -e "s|@HOST@|$HOST|g" bench/conf/nginx.conf.in >"$1/nginx.conf"
}

record() { # record SECTION TARGET ROUND EXTRA_JSON MEASUREMENT_JSON
    printf '{"section":"%s","target":"%s","round":%s,%s,"m":%s}\n' "$1" "$2" "$3" "$4" "$5" >>"$OUT"
}

cpu_ticks() { # cpu_ticks PID...: user + system time of the processes, in clock ticks
    local pid total=0 f
    for pid in "$@"; do
        read -r -a f <"/proc/$pid/stat"
        total=$((total + f[13] + f[14]))
    done
    echo "$total"
}

workers_of() { # nginx's worker processes, once forked
    local i
    for i in $(seq 1 100); do
        if pgrep -P "$1" >/dev/null; then
            pgrep -P "$1" | tr '\n' ' '
            return 0
        fi
        sleep 0.05
    done
    echo "nginx ($1) has no worker" >&2
    return 1
}

pids_of() { # the processes that do a path's work: the backend, nginx's workers, the gateway
    case $1 in
    direct) echo "$backend_PID" ;;
    nginx) workers_of "$nginx_PID" ;;
    nginx-auto) workers_of "$nginx_auto_PID" ;;
    gateway) echo "$gateway_PID" ;;
    esac
}

port_of() {
    case $1 in
    direct) echo $BACKEND_PORT ;;
    nginx) echo $NGINX_PORT ;;
    nginx-auto) echo $NGINX_AUTO_PORT ;;
    gateway) echo $GATEWAY_PORT ;;
    esac
}

# --- the servers ----------------------------------------------------------------------------
start backend $BACKEND_PORT "${SERVER[@]}" "$BIN" backend --listen 127.0.0.1:$BACKEND_PORT --threads 1
nginx_conf "$WORK/nginx" 1 $NGINX_PORT
start nginx $NGINX_PORT "${SERVER[@]}" nginx -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf"
nginx_conf "$WORK/nginx-auto" auto $NGINX_AUTO_PORT
start nginx_auto $NGINX_AUTO_PORT nginx -e "$WORK/nginx-auto/error.log" -p "$WORK/nginx-auto" -c "$WORK/nginx-auto/nginx.conf"
start gateway $GATEWAY_PORT "${SERVER[@]}" "$BIN" gateway --listen 127.0.0.1:$GATEWAY_PORT --upstream-port $BACKEND_PORT \
    ${GATEWAY_THREADS:+--threads "$GATEWAY_THREADS"}
for port in $NGINX_PORT $NGINX_AUTO_PORT $GATEWAY_PORT; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $HOST" "http://127.0.0.1:$port/")
    [[ $code == 200 ]] || { echo "the proxy on port $port answered $code" >&2; exit 1; }
done

# --- 1. HTTP --------------------------------------------------------------------------------
if has http; then
    for round in $(seq 1 "$ROUNDS"); do
        for conns in 32 256; do
            for target in direct nginx nginx-auto gateway; do
                say "http round $round: $target, $conns connections"
                pids=$(pids_of $target)
                # shellcheck disable=SC2086
                before=$(cpu_ticks $pids)
                line=$("${CLIENT[@]}" wrk -t1 -c"$conns" -d"${DURATION}s" -s bench/conf/wrk-report.lua \
                    -H "Host: $HOST" "http://127.0.0.1:$(port_of $target)/" | sed -n 's/^JSON //p')
                # shellcheck disable=SC2086
                after=$(cpu_ticks $pids)
                requests=$(sed 's/.*"requests":\([0-9]*\).*/\1/' <<<"$line")
                cpu=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
                    'BEGIN { printf "%.2f", n ? t / hz * 1e6 / n : 0 }')
                line="${line%\}},\"proxy_cpu_us_per_req\":$cpu}"
                echo "$line" >&2
                record http "$target" "$round" "\"connections\":$conns" "$line"
            done
        done
    done
fi

# --- 2. WebSocket echo ----------------------------------------------------------------------
if has ws; then
    for round in $(seq 1 "$ROUNDS"); do
        for size in 64 65536; do
            for target in direct nginx nginx-auto gateway; do
                say "ws round $round: $target, $size-byte messages"
                line=$("${CLIENT[@]}" "$BIN" ws-load --addr "127.0.0.1:$(port_of $target)" --host "$HOST" \
                    --connections 32 --size "$size" --seconds "$DURATION")
                echo "$line" >&2
                record ws "$target" "$round" "\"size\":$size" "$line"
            done
        done
    done
fi

# --- 3. Scale: idle WebSocket sessions, each in a fresh process -----------------------------
if has scale; then
    for round in 1 2 3; do
        say "scale round $round: $SESSIONS idle sessions through the gateway"
        start scale $SCALE_PORT "${SERVER[@]}" "$BIN" gateway --listen 127.0.0.1:$SCALE_PORT --upstream-port $BACKEND_PORT
        line=$("${CLIENT[@]}" "$BIN" ws-hold --addr 127.0.0.1:$SCALE_PORT --host "$HOST" \
            --sessions "$SESSIONS" --pid "$scale_PID")
        echo "$line" >&2
        record scale gateway "$round" "\"sessions\":$SESSIONS" "$line"
        stop scale

        say "scale round $round: $SESSIONS idle sessions through nginx (one worker)"
        nginx_conf "$WORK/nginx-scale" 1 $SCALE_PORT
        start nginx_scale $SCALE_PORT nginx -e "$WORK/nginx-scale/error.log" -p "$WORK/nginx-scale" -c "$WORK/nginx-scale/nginx.conf"
        worker=$(workers_of "$nginx_scale_PID" | awk '{print $1}')
        line=$("${CLIENT[@]}" "$BIN" ws-hold --addr 127.0.0.1:$SCALE_PORT --host "$HOST" \
            --sessions "$SESSIONS" --pid "$worker")
        echo "$line" >&2
        record scale nginx "$round" "\"sessions\":$SESSIONS" "$line"
        stop nginx_scale
    done
fi

# --- 4. Streaming: a fresh gateway so its peak memory is the stream's -----------------------
if has stream; then
    start scale $SCALE_PORT "${SERVER[@]}" "$BIN" gateway --listen 127.0.0.1:$SCALE_PORT --upstream-port $BACKEND_PORT
    for round in 1 2 3; do
        for dir in down up; do
            for target in direct nginx gateway; do
                say "stream round $round: $dir, $target"
                port=$(port_of $target) pid=()
                if [[ $target == gateway ]]; then port=$SCALE_PORT pid=(--pid "$scale_PID"); fi
                line=$("${CLIENT[@]}" "$BIN" stream --addr "127.0.0.1:$port" --host "$HOST" \
                    --bytes "$STREAM_BYTES" --direction "$dir" "${pid[@]}")
                echo "$line" >&2
                record stream "$target" "$round" "\"direction\":\"$dir\"" "$line"
            done
        done
    done
    stop scale
fi

# --- 5. Micro: criterion in Rust, then per call from Python and Node -------------------------
if has micro; then
    say "criterion benches of the core"
    rm -rf target/criterion
    cargo bench --locked -p portway --bench micro -- --noplot --warm-up-time 1 --measurement-time 3 >&2
fi
if has bindings; then
    bench/bindings.sh "$OUT" >&2 || echo "bindings section failed; reported as pending" >&2
fi

# --- 6. The Redis store: propagation, load time, and HTTP on each store ----------------------
if has store; then
    redis_bin=$(scripts/redis.sh)
    mkdir -p "$WORK/redis"
    start redis $REDIS_PORT "$redis_bin" --port $REDIS_PORT --bind 127.0.0.1 --save "" \
        --appendonly no --dir "$WORK/redis" --daemonize no
    redis_url=redis://127.0.0.1:$REDIS_PORT/0
    say "the Redis store: propagation between two Portways, and 100,000 exposures loaded"
    line=$("$BIN" store --url "$redis_url")
    echo "$line" >&2
    record store redis 1 '"kind":"figures"' "$line"
    start gateway_sqlite $SQLITE_GATEWAY_PORT "${SERVER[@]}" "$BIN" gateway \
        --listen 127.0.0.1:$SQLITE_GATEWAY_PORT --upstream-port $BACKEND_PORT --store "$WORK/bench.db"
    start gateway_redis $REDIS_GATEWAY_PORT "${SERVER[@]}" "$BIN" gateway \
        --listen 127.0.0.1:$REDIS_GATEWAY_PORT --upstream-port $BACKEND_PORT --store "$redis_url?prefix=gw:"
    for round in $(seq 1 "$ROUNDS"); do
        for conns in 32 256; do
            for target in sqlite redis; do
                say "store http round $round: gateway on $target, $conns connections"
                port_var="${target^^}_GATEWAY_PORT"
                pid_var="gateway_${target}_PID"
                before=$(cpu_ticks "${!pid_var}")
                line=$("${CLIENT[@]}" wrk -t1 -c"$conns" -d"${DURATION}s" -s bench/conf/wrk-report.lua \
                    -H "Host: $HOST" "http://127.0.0.1:${!port_var}/" | sed -n 's/^JSON //p')
                after=$(cpu_ticks "${!pid_var}")
                requests=$(sed 's/.*"requests":\([0-9]*\).*/\1/' <<<"$line")
                cpu=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
                    'BEGIN { printf "%.2f", n ? t / hz * 1e6 / n : 0 }')
                line="${line%\}},\"proxy_cpu_us_per_req\":$cpu}"
                echo "$line" >&2
                record store-http "$target" "$round" "\"connections\":$conns" "$line"
            done
        done
    done
    stop gateway_sqlite
    stop gateway_redis
    stop redis
fi

# --- the report -----------------------------------------------------------------------------
python3 bench/report.py --results "$OUT" --criterion target/criterion --out "$RESULTS" \
    --command "$COMMAND" --rounds "$ROUNDS" --duration "$DURATION" --pin "$PIN" \
    --nginx-version "$(nginx -v 2>&1 | sed 's/.*nginx\///')" --wrk-version "$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
say "wrote $RESULTS"
