#!/usr/bin/env python3
"""Small helpers for bench/proxy.sh, one subcommand each (standard library only).

  free-ports N                      N distinct free TCP ports on 127.0.0.1, one a line
  wait-ready URL --pid P --timeout S [--since EPOCH]
                                    poll URL until it answers 200; fail if process P dies
                                    first; print seconds since EPOCH (default: the start)
  metric URL NAME                   the value of sample NAME on a Prometheus/OpenMetrics
                                    page (labelled samples of that name are added up)
  wrk-summary FILE                  from `wrk --latency` output: requests/s, p50 ms,
                                    p99 ms, requests, non-2xx/3xx responses, socket errors
  cpu-ticks PID...                  user and system clock ticks of the processes and their
                                    live descendants
  other-snapshot PID FILE           record the CPU ticks of every process outside PID's tree
  other-since PID FILE              ticks those processes (and new ones) used since then
  status HOST:PORT HOSTHEADER       the HTTP status of GET / with that Host header
  requests HOST:PORT HOSTHEADER N   N GETs of / on one keep-alive connection; fail unless
                                    every one answers 200
  reload-probe --manifest F --proxy HOST:PORT --trials N
                                    N times: rewrite F atomically as its original text plus
                                    a probe Ingress for a new host, then poll the proxy
                                    until that host is routed (200); print each time in ms
  probe HOST:PORT --host H [--path P] [--header 'K: V']... [--expect STATUS]
        [--want-header NAME]... [--no-header NAME]... [--print-header NAME]
                                    one GET on a fresh connection; fail unless it answers
                                    STATUS (default 200) with every --want-header and no
                                    --no-header; print the status, or the --print-header value
  feature-table TSV                 the medians per case of bench/features.sh's rounds, and
                                    of their ratios to each case's baseline in the same round,
                                    as Markdown
"""

import argparse
import http.client
import importlib.util
import json
import os
import re
import socket
import sys
import time
import urllib.request


def free_ports(n: int) -> list:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            # A zombie has exited already; its parent just has not reaped it.
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_ready(url: str, pid: int, timeout: float, since: float) -> float:
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return time.time() - since
        except OSError:
            pass
        if not alive(pid):
            raise SystemExit(f"process {pid} exited before {url} answered 200")
        if time.time() > deadline:
            raise SystemExit(f"{url} did not answer 200 within {timeout:g} s")
        time.sleep(0.01)


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    total, found = 0.0, False
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{[^}}]*\}})?\s+(\S+)")
    for line in text.splitlines():
        m = pattern.match(line)
        if m:
            total += float(m.group(1))
            found = True
    if not found:
        raise SystemExit(f"no sample {name} at {url}")
    return total


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def wrk_summary(path: str) -> list:
    text = open(path).read()

    def latency(pct: str) -> float:
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        if not m:
            raise SystemExit(f"{path}: no {pct}% latency line (was --latency given?)")
        return float(m.group(1)) * UNITS_MS[m.group(2)]

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    total = re.search(r"^\s*(\d+) requests in", text, re.M)
    if not rps or not total:
        raise SystemExit(f"{path}: not wrk output:\n{text}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors = sum(int(g) for g in sock.groups()) if sock else 0
    return [
        f"{float(rps.group(1)):.0f}",
        f"{latency('50'):.3f}",
        f"{latency('99'):.3f}",
        total.group(1),
        non2xx.group(1) if non2xx else "0",
        str(errors),
    ]


def h2load_summary(out_path: str, log_path: str) -> list:
    """Like wrk_summary, for h2load: its output, and its --log-file of every request
    (start in µs, status, duration in µs), from which the percentiles are taken."""
    text = open(out_path).read()
    rps = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", text)
    reqs = re.search(
        r"^requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
        r"(\d+) errored, (\d+) timeout", text, re.M)
    codes = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M)
    if not rps or not reqs or not codes:
        raise SystemExit(f"{out_path}: not h2load output:\n{text}")
    durations = []
    with open(log_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                durations.append(int(parts[2]) / 1000.0)
    if not durations:
        raise SystemExit(f"{log_path}: no requests logged")
    durations.sort()

    def pct(p: float) -> float:
        return durations[min(len(durations) - 1, int(p / 100 * len(durations)))]

    mean = sum(durations) / len(durations)
    non2xx = sum(int(c) for c in codes.groups()[1:])
    errors = int(reqs.group(4)) + int(reqs.group(5)) + int(reqs.group(6))
    return [f"{float(rps.group(1)):.0f}", f"{pct(50):.3f}", f"{pct(99):.3f}", reqs.group(3),
            str(non2xx), str(errors), f"{mean:.3f}"]


def ticks(pid: int) -> tuple:
    """(user, system) clock ticks of PID and its live descendants."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return (0, 0)
    user, system = int(fields[11]), int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    children = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                children += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            pass
    for c in children:
        u, s = ticks(c)
        user, system = user + u, system + s
    return (user, system)


def others(root: int) -> dict:
    """{pid: (start time, user+system ticks)} of every process but ROOT and its descendants."""
    procs = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # fields: [1] ppid, [11] utime, [12] stime, [19] start time
        procs[int(entry)] = (int(fields[1]), int(fields[19]), int(fields[11]) + int(fields[12]))

    def ours(pid: int) -> bool:
        for _ in range(64):
            if pid == root:
                return True
            if pid <= 1:
                return False
            pid = procs.get(pid, (0,))[0]
        return False

    return {pid: (start, t) for pid, (_, start, t) in procs.items() if not ours(pid)}


def uptime_ticks() -> int:
    with open("/proc/uptime") as f:
        return int(float(f.read().split()[0]) * os.sysconf("SC_CLK_TCK"))


def other_snapshot(root: int, path: str) -> None:
    with open(path, "w") as f:
        json.dump({"at": uptime_ticks(), "procs": others(root)}, f)


def other_since(root: int, path: str) -> int:
    """Ticks that processes outside ROOT's tree used since the snapshot in PATH.

    A lower bound: the last moments of a process that ended in between, and processes
    that started and ended in between, are not seen.
    """
    with open(path) as f:
        snapshot = json.load(f)
    before = {int(pid): tuple(v) for pid, v in snapshot["procs"].items()}
    total = 0
    for pid, (start, t) in others(root).items():
        old = before.get(pid)
        if old and old[0] == start:
            total += t - old[1]
        elif start >= snapshot["at"]:  # started since; one missed by the snapshot is left out
            total += t
    return total


def status(addr: str, host: str) -> int:
    h, p = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(h, int(p), timeout=2)
    try:
        conn.request("GET", "/", headers={"Host": host})
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def requests(addr: str, host: str, n: int) -> None:
    h, p = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(h, int(p), timeout=30)
    try:
        for i in range(n):
            conn.request("GET", "/", headers={"Host": host})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise SystemExit(f"request {i + 1} of {n} answered {r.status}, not 200")
    finally:
        conn.close()


def reload_probe(manifest: str, proxy: str, trials: int, timeout: float) -> list:
    sys.dont_write_bytecode = True  # leave no __pycache__ in bench/
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("gen", os.path.join(here, "gen-ingresses.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)

    base = open(manifest).read()
    times = []
    for k in range(trials):
        host = f"probe-{os.getpid()}-{k}.bench.example"
        if status(proxy, host) == 200:
            raise SystemExit(f"{host} is routed before its Ingress was written")
        tmp = manifest + ".tmp"
        with open(tmp, "w") as f:
            f.write(base + gen.probe(host))
        started = time.perf_counter()
        os.replace(tmp, manifest)
        while True:
            try:
                if status(proxy, host) == 200:
                    break
            except OSError:
                pass
            if time.perf_counter() - started > timeout:
                raise SystemExit(f"{host} not routed {timeout:g} s after the rewrite")
            time.sleep(0.001)
        times.append((time.perf_counter() - started) * 1000)
        time.sleep(0.3)
    return [f"{t:.1f}" for t in times]


def probe(addr: str, host: str, path: str, headers: list, expect: int, want: list,
          absent: list, show: str) -> str:
    """One GET (a fresh connection); checks its status and headers, loudly."""
    h, p = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(h, int(p), timeout=30)
    sent = {"Host": host}
    for line in headers:
        k, _, v = line.partition(":")
        sent[k.strip()] = v.strip()
    try:
        conn.request("GET", path, headers=sent)
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    what = f"GET {path} Host: {host} on {addr}"
    if r.status != expect:
        raise SystemExit(f"{what} answered {r.status}, not {expect}: {body[:300]!r}")
    for name in want:
        if r.getheader(name) is None:
            raise SystemExit(f"{what} answered without a {name} header: {r.getheaders()}")
    for name in absent:
        if r.getheader(name) is not None:
            raise SystemExit(f"{what} answered with {name}: {r.getheader(name)}")
    if show:
        value = r.getheader(show)
        if value is None:
            raise SystemExit(f"{what} answered without a {show} header: {r.getheaders()}")
        return value
    return str(r.status)


def feature_table(path: str) -> str:
    """Medians per case of the rounds in PATH (tab-separated, one row per measured run:
    case, label, served by, baseline case, round, requests/s, p50 ms, p99 ms, CPU µs per
    request, user µs, system µs, requests, non-2xx, socket errors), with the median of each
    run's ratio to its baseline's run in the same round."""
    import statistics

    cases, order = {}, []
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) < 14:
            continue
        key = f[0]
        if key not in cases:
            order.append(key)
            cases[key] = {"label": f[1], "by": f[2], "base": f[3], "runs": []}
        cases[key]["runs"].append([float(x) for x in f[5:14]] + [f[4]])  # ..., round

    def med(key: str, i: int) -> float:
        return statistics.median(r[i] for r in cases[key]["runs"])

    out = [
        "| case | served by | requests/s | p50 (ms) | p99 (ms) | proxy CPU per request, µs "
        "(user + system) | requests/s vs baseline (median of the rounds' ratios) "
        "| CPU per request vs baseline (same) | baseline "
        "| non-2xx / socket errors (all rounds) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for key in order:
        c = cases[key]
        rps, p50, p99, cpu, user, system = (med(key, i) for i in range(6))
        non2xx = sum(int(r[7]) for r in c["runs"])
        errors = sum(int(r[8]) for r in c["runs"])
        base = c["base"]
        if base == key or base not in cases:
            vs_rps = vs_cpu = "1 (baseline)" if base == key else "—"
            base_label = "—"
        else:
            # Each run against its baseline's run of the same round, then the median of
            # those ratios: a round slowed by a neighbour weighs on both sides of it.
            by_round = {r[-1]: r for r in cases[base]["runs"]}
            pairs = [(r, by_round[r[-1]]) for r in c["runs"] if r[-1] in by_round]
            vs_rps = f"{statistics.median(r[0] / b[0] for r, b in pairs):.2f}"
            vs_cpu = f"{statistics.median(r[3] / b[3] for r, b in pairs):.2f}"
            base_label = cases[base]["label"]
        cpu_text = (f"{cpu:,.0f} = {user:,.0f} + {system:,.0f}" if cpu >= 100
                    else f"{cpu:.1f} = {user:.1f} + {system:.1f}")
        out.append(
            f"| {c['label']} | {c['by']} | {rps:,.0f} | {p50:.3f} | {p99:.3f} | {cpu_text} "
            f"| {vs_rps} | {vs_cpu} | {base_label} | {non2xx:,} / {errors:,} |"
        )
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("free-ports")
    p.add_argument("n", type=int)
    p = sub.add_parser("wait-ready")
    p.add_argument("url")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--since", type=float)
    p = sub.add_parser("metric")
    p.add_argument("url")
    p.add_argument("name")
    p = sub.add_parser("wrk-summary")
    p.add_argument("file")
    p = sub.add_parser("h2load-summary")
    p.add_argument("out")
    p.add_argument("log")
    p = sub.add_parser("cpu-ticks")
    p.add_argument("pids", type=int, nargs="+")
    for name in ("other-snapshot", "other-since"):
        p = sub.add_parser(name)
        p.add_argument("pid", type=int)
        p.add_argument("file")
    p = sub.add_parser("status")
    p.add_argument("addr")
    p.add_argument("host")
    p = sub.add_parser("requests")
    p.add_argument("addr")
    p.add_argument("host")
    p.add_argument("n", type=int)
    p = sub.add_parser("reload-probe")
    p.add_argument("--manifest", required=True)
    p.add_argument("--proxy", required=True)
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--timeout", type=float, default=30)
    p = sub.add_parser("probe")
    p.add_argument("addr")
    p.add_argument("--host", required=True)
    p.add_argument("--path", default="/")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--expect", type=int, default=200)
    p.add_argument("--want-header", action="append", default=[])
    p.add_argument("--no-header", action="append", default=[])
    p.add_argument("--print-header", default="")
    p = sub.add_parser("feature-table")
    p.add_argument("file")
    a = ap.parse_args()

    if a.cmd == "free-ports":
        print("\n".join(str(p) for p in free_ports(a.n)))
    elif a.cmd == "wait-ready":
        print(f"{wait_ready(a.url, a.pid, a.timeout, a.since or time.time()):.3f}")
    elif a.cmd == "metric":
        print(f"{metric(a.url, a.name):g}")
    elif a.cmd == "wrk-summary":
        print(" ".join(wrk_summary(a.file)))
    elif a.cmd == "h2load-summary":
        print(" ".join(h2load_summary(a.out, a.log)))
    elif a.cmd == "cpu-ticks":
        user = sum(ticks(p)[0] for p in a.pids)
        system = sum(ticks(p)[1] for p in a.pids)
        print(user, system)
    elif a.cmd == "other-snapshot":
        other_snapshot(a.pid, a.file)
    elif a.cmd == "other-since":
        print(other_since(a.pid, a.file))
    elif a.cmd == "status":
        print(status(a.addr, a.host))
    elif a.cmd == "requests":
        requests(a.addr, a.host, a.n)
    elif a.cmd == "reload-probe":
        print(" ".join(reload_probe(a.manifest, a.proxy, a.trials, a.timeout)))
    elif a.cmd == "probe":
        print(probe(a.addr, a.host, a.path, a.header, a.expect, a.want_header, a.no_header,
                    a.print_header))
    elif a.cmd == "feature-table":
        print(feature_table(a.file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
