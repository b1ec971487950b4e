#!/usr/bin/env python3
"""Turns the measurements of bench/run.sh (one JSON object a line) into bench/RESULTS.md:
medians over the rounds, ratios, and each target of issue 7 with its verdict."""

import argparse
import datetime
import glob
import json
import os
import platform
import statistics
import subprocess


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=0):
    if x is None:
        return "n/a"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def ratio(a, b):
    return a / b if a is not None and b else None


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def criterion(root):
    out = {}
    for path in glob.glob(os.path.join(root, "*", "new", "estimates.json")):
        name = path.split(os.sep)[-3]
        with open(path) as f:
            out[name] = json.load(f)["median"]["point_estimate"]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--criterion", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", default="bench/run.sh")
    ap.add_argument("--rounds", default="?")
    ap.add_argument("--duration", default="?")
    ap.add_argument("--pin", default="1")
    ap.add_argument("--nginx-version", default="?")
    ap.add_argument("--wrk-version", default="?")
    a = ap.parse_args()

    rows = [json.loads(line) for line in open(a.results) if line.strip()]

    def pick(section, target, **kw):
        return [
            r["m"]
            for r in rows
            if r["section"] == section
            and r["target"] == target
            and all(r.get(k) == v for k, v in kw.items())
        ]

    lines = []
    w = lines.append
    targets = []  # (target, measured, met)

    w("# Benchmark results")
    w("")
    w("The latest run of `make bench` (bench/run.sh); bench/README.md says what each section")
    w("measures and how. Every figure is the median of the rounds; ratios are of medians measured")
    w("in the same run, interleaved (direct, nginx, gateway, one after the other, each round).")
    w("")
    w(f"- Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    mem = sh("awk '/MemTotal/ {printf \"%.0f GiB\", $2/1048576}' /proc/meminfo")
    w(f"- Machine: {os.cpu_count()} cores ({cpu}), {mem}, Linux {platform.release()}, "
      f"{sh('. /etc/os-release && echo $PRETTY_NAME')}")
    w(f"- Software: {sh('rustc --version')}; nginx {a.nginx_version}; wrk {a.wrk_version}; "
      f"Portway at {sh('git rev-parse --short HEAD')}")
    w(f"- Command: `{a.command}` ({a.rounds} rounds, {a.duration} s per HTTP and WebSocket "
      f"measurement, PIN={a.pin})")
    load = sh("cat /proc/loadavg | cut -d' ' -f1-3")
    w(f"- Load average at the end of the run: {load} (other work on the machine shows up as noise)")
    w("")

    # 1. HTTP
    if any(r["section"] == "http" for r in rows):
        w("## 1. HTTP: small responses, keep-alive (wrk, one thread)")
        w("")
        w("| connections | path | req/s | p50 µs | p99 µs | p99.9 µs | proxy CPU µs/req | errors |")
        w("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        summary = {}
        for conns in (32, 256):
            for t in ("direct", "nginx", "nginx-auto", "gateway"):
                ms = pick("http", t, connections=conns)
                if not ms:
                    continue
                rps = median([m["requests"] / (m["duration_us"] / 1e6) for m in ms])
                p50 = median([m["p50_us"] for m in ms])
                p99 = median([m["p99_us"] for m in ms])
                p999 = median([m["p999_us"] for m in ms])
                cpu_us = median([m.get("proxy_cpu_us_per_req") for m in ms])
                errs = sum(m["socket_errors"] + m["non2xx"] for m in ms)
                summary[(conns, t)] = (rps, p99)
                name = {"nginx": "nginx (1 worker)", "nginx-auto": "nginx (auto: 2 workers)"}.get(t, t)
                w(f"| {conns} | {name} | {fmt(rps)} | {fmt(p50)} | {fmt(p99)} | {fmt(p999)} | "
                  f"{fmt(cpu_us, 1)} | {errs} |")
        w("")
        w("| connections | gateway/nginx req/s | gateway/nginx p99 | gateway/direct req/s | gateway/nginx-auto req/s |")
        w("| ---: | ---: | ---: | ---: | ---: |")
        for conns in (32, 256):
            g = summary.get((conns, "gateway"), (None, None))
            n = summary.get((conns, "nginx"), (None, None))
            d = summary.get((conns, "direct"), (None, None))
            na = summary.get((conns, "nginx-auto"), (None, None))
            w(f"| {conns} | {fmt(ratio(g[0], n[0]), 2)} | {fmt(ratio(g[1], n[1]), 2)} | "
              f"{fmt(ratio(g[0], d[0]), 2)} | {fmt(ratio(g[0], na[0]), 2)} |")
        w("")
        g = summary.get((32, "gateway"), (None, None))
        n = summary.get((32, "nginx"), (None, None))
        r1, r2 = ratio(g[0], n[0]), ratio(g[1], n[1])
        targets.append(("HTTP req/s ≥ 1.3× nginx (1 worker), 32 connections",
                        f"{fmt(r1, 2)}×", r1 is not None and r1 >= 1.3))
        targets.append(("HTTP p99 ≤ 0.8× nginx's, 32 connections",
                        f"{fmt(r2, 2)}×", r2 is not None and r2 <= 0.8))

    # 2. WebSocket
    if any(r["section"] == "ws" for r in rows):
        w("## 2. WebSocket echo: 32 sessions, one round trip at a time each")
        w("")
        w("| message | path | round trips/s | p50 µs | p99 µs | p99.9 µs | vs direct | errors |")
        w("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        worst = None
        for size in (64, 65536):
            d = median([m["round_trips_per_s"] for m in pick("ws", "direct", size=size)])
            for t in ("direct", "nginx", "nginx-auto", "gateway"):
                ms = pick("ws", t, size=size)
                if not ms:
                    continue
                rt = median([m["round_trips_per_s"] for m in ms])
                errs = sum(m["errors"] for m in ms)
                name = {"nginx": "nginx (1 worker)", "nginx-auto": "nginx (auto)"}.get(t, t)
                label = "64 B" if size == 64 else "64 KiB"
                w(f"| {label} | {name} | {fmt(rt)} | {fmt(median([m['p50_us'] for m in ms]))} | "
                  f"{fmt(median([m['p99_us'] for m in ms]))} | {fmt(median([m['p999_us'] for m in ms]))} | "
                  f"{fmt(ratio(rt, d), 2)} | {errs} |")
                if t == "gateway":
                    r = ratio(rt, d)
                    targets.append((f"WebSocket round trips ≥ 0.7× direct, {label} messages",
                                    f"{fmt(r, 2)}×", r is not None and r >= 0.7))
        w("")

    # 3. Scale
    if any(r["section"] == "scale" for r in rows):
        w("## 3. Scale: idle WebSocket sessions")
        w("")
        w("Each round starts a fresh proxy process, opens the sessions, waits, reads the proxy's")
        w("resident memory (VmRSS), echoes once on every session, and closes them. 8,000 sessions,")
        w("not 10,000: a process here may hold 20,000 files, and the gateway holds two sockets per")
        w("session. The per-session figures do not depend on the count.")
        w("")
        w("| proxy | sessions | RSS before KiB | RSS idle KiB | bytes per idle session | bytes per session after one echo | echo failures |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for t in ("gateway", "nginx"):
            ms = pick("scale", t)
            if not ms:
                continue
            per = median([m["bytes_per_idle_session"] for m in ms])
            name = "nginx (1 worker, worker process)" if t == "nginx" else t
            w(f"| {name} | {ms[0]['sessions']:,} | {fmt(median([m['rss_before_kib'] for m in ms]))} | "
              f"{fmt(median([m['rss_idle_kib'] for m in ms]))} | {fmt(per)} | "
              f"{fmt(median([m['bytes_per_session_after_echo'] for m in ms]))} | "
              f"{sum(m['echo_failures'] for m in ms)} |")
            if t == "gateway":
                targets.append(("≤ 16 KiB gateway memory per idle WebSocket session",
                                f"{fmt(per / 1024 if per else None, 1)} KiB "
                                f"({ms[0]['sessions']:,} sessions)", per is not None and per <= 16384))
        w("")

    # 4. Streaming
    if any(r["section"] == "stream" for r in rows):
        w("## 4. Streaming: one 1 GiB body each way")
        w("")
        w("| direction | path | MiB/s | vs direct | gateway peak extra memory |")
        w("| --- | --- | ---: | ---: | ---: |")
        for d in ("down", "up"):
            base = median([m["mib_per_s"] for m in pick("stream", "direct", direction=d)])
            for t in ("direct", "nginx", "gateway"):
                ms = pick("stream", t, direction=d)
                if not ms:
                    continue
                mib = median([m["mib_per_s"] for m in ms])
                extra = max((m.get("peak_extra_kib", 0) for m in ms), default=None) if t == "gateway" else None
                w(f"| {d} | {t} | {fmt(mib)} | {fmt(ratio(mib, base), 2)} | "
                  f"{fmt(extra / 1024, 1) + ' MiB (max of rounds)' if extra is not None else ''} |")
                if t == "gateway":
                    r = ratio(mib, base)
                    targets.append((f"1 GiB {d}: throughput ≥ 0.8× direct", f"{fmt(r, 2)}×",
                                    r is not None and r >= 0.8))
                    targets.append((f"1 GiB {d}: ≤ 8 MiB extra gateway memory",
                                    f"{fmt(extra / 1024, 1)} MiB", extra is not None and extra <= 8192))
        w("")

    # 5. Micro
    crit = criterion(a.criterion)
    binding_rows = [r for r in rows if r["section"] == "bindings"]
    if crit or binding_rows:
        w("## 5. Micro")
        w("")
        w("| what | where | per call |")
        w("| --- | --- | ---: |")
        names = {
            "build_preview_url": "build a preview URL",
            "parse_preview_host": "parse a host",
            "resolve_100k_ports": "route lookup (`Portway::resolve`), 100,000 ports exposed, in exposure order",
            "resolve_100k_ports_scattered": "route lookup, 100,000 ports exposed, scattered order",
            "resolve_100k_ports_wrong_token": "route lookup, wrong token, 100,000 ports exposed",
        }
        for k, label in names.items():
            if k in crit:
                w(f"| {label} | Rust (criterion median, CPU time) | {fmt(crit[k], 1)} ns |")
        for lang in ("python", "node"):
            for fn in ("build_preview_url", "parse_preview_host"):
                ms = [r["m"] for r in binding_rows if r["target"] == lang and r.get("fn") == fn]
                if ms:
                    ns = median([m["ns_per_call"] for m in ms])
                    w(f"| {names[fn]} | {lang.capitalize()} (median of rounds) | {fmt(ns, 0)} ns |")
                    targets.append((f"{lang.capitalize()} {fn} ≤ 0.5 µs per call",
                                    f"{fmt(ns / 1000, 2)} µs", ns <= 500))
                elif crit:
                    w(f"| {names[fn]} | {lang.capitalize()} | pending (package not built) |")
                    targets.append((f"{lang.capitalize()} {fn} ≤ 0.5 µs per call", "pending", None))
        for k, order in (("resolve_100k_ports", "exposure order"),
                         ("resolve_100k_ports_scattered", "scattered order")):
            if k in crit:
                ns = crit[k]
                targets.append((f"Route lookup ≤ 100 ns with 100,000 ports exposed (Rust, {order})",
                                f"{fmt(ns, 1)} ns", ns <= 100))
        w("")

    # 6. The Redis store
    store = pick("store", "redis")
    if store or any(r["section"] == "store-http" for r in rows):
        w("## 6. The Redis store")
        w("")
        for m in store:
            p = m["propagation"]
            w(f"- Propagation, from a write's return in one Portway to the route working in another "
              f"(two Portways on one Redis, {m['changes']} changes): p50 {fmt(p['p50_us'])} µs, "
              f"p99 {fmt(p['p99_us'])} µs, p99.9 {fmt(p['p999_us'])} µs.")
            w(f"- A new Portway loading {m['exposures_loaded']:,} exposures from Redis: "
              f"{fmt(m['load_ms'], 1)} ms.")
            targets.append(("Redis store: propagation p99 ≤ 100 ms", f"{fmt(p['p99_us'] / 1000, 2)} ms",
                            p["p99_us"] <= 100_000))
            targets.append(("Redis store: 100,000 exposures load in < 2 s", f"{fmt(m['load_ms'], 1)} ms",
                            m["load_ms"] < 2000))
        w("")
        w("| connections | gateway's store | req/s | p50 µs | p99 µs | proxy CPU µs/req |")
        w("| ---: | --- | ---: | ---: | ---: | ---: |")
        for conns in (32, 256):
            for t in ("sqlite", "redis"):
                ms = pick("store-http", t, connections=conns)
                if not ms:
                    continue
                rps = median([m["requests"] / (m["duration_us"] / 1e6) for m in ms])
                w(f"| {conns} | {t} | {fmt(rps)} | {fmt(median([m['p50_us'] for m in ms]))} | "
                  f"{fmt(median([m['p99_us'] for m in ms]))} | "
                  f"{fmt(median([m.get('proxy_cpu_us_per_req') for m in ms]), 1)} |")
        w("")

    w("## Targets (issue 7)")
    w("")
    w("| target | measured | met |")
    w("| --- | --- | --- |")
    for name, measured, met in targets:
        verdict = "pending" if met is None else ("met" if met else "**not met**")
        w(f"| {name} | {measured} | {verdict} |")
    w("")
    # The hand-written reading of the previous file is kept (update it after a run).
    if os.path.exists(a.out):
        previous = open(a.out).read()
        if "\n## Reading" in previous:
            w(previous[previous.index("\n## Reading") + 1:].rstrip())
            w("")

    with open(a.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines[-(len(targets) + 4):]))


if __name__ == "__main__":
    main()
