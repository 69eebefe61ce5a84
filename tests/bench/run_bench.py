"""Interleaved benchmark of omproxy against the measuring sticks in ../shared/bench (not a test).

    python tests/bench/run_bench.py [--rounds 3] [--bench-dir ../shared/bench]

Every round runs every target once per workload, in turn, so machine noise hits all alike. It
reports *added* latency (target p50 - direct p50 of the same round) and the proxy's CPU per
request, medians over rounds, as a markdown table for the README (all three workloads), or one
summary line per target (a subset). With the plain relay and `--otlp` both run, it prints the
`--otlp` comparison against issue 14's targets, with the load average:

    python tests/bench/run_bench.py --workloads seq,pipelined --rounds 7 \
        --targets "omproxy stdio,omproxy --otlp (live receiver)"   # add --n 20000 for a long session
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def reader(path: str, stop: threading.Event, counts: dict) -> None:
    """An attached inspector that reads everything (the --inspect + 1 reader case)."""
    while not stop.is_set():
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            break
        except OSError:
            time.sleep(0.005)
    else:
        return
    s.settimeout(0.5)
    while not stop.is_set():
        try:
            data = s.recv(1 << 20)
        except (TimeoutError, socket.timeout):
            continue
        except OSError:
            break
        if not data:
            break
        counts["bytes"] = counts.get("bytes", 0) + len(data)
    s.close()


def run(bench: Path, target: list[str], args: list[str], attach: str | None) -> dict:
    stop = threading.Event()
    counts: dict = {}
    t = None
    if attach:
        t = threading.Thread(target=reader, args=(attach, stop, counts), daemon=True)
        t.start()
    out = subprocess.run([sys.executable, str(bench / "mcpbench.py"), *args, "--json", "--", *target,
                          sys.executable, str(bench / "echo_server.py")], capture_output=True, text=True,
                         cwd=bench, timeout=600)
    stop.set()
    if t:
        t.join(2)
    try:
        res = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise SystemExit(f"benchmark failed for {target}: {out.stdout[-500:]} {out.stderr[-2000:]}")
    if not res.get("ok"):
        raise SystemExit(f"benchmark reported errors for {target}: {res}")
    res["inspector_bytes"] = counts.get("bytes", 0)
    return res


def _otlp_receiver() -> str | None:
    """A real OTLP/HTTP receiver in this process (the `oteltest` sink, counting what it gets), or
    None when the optional packages are missing."""
    try:
        sys.path.insert(0, str(ROOT / "tests"))
        from otel_sink import Receiver
    except ImportError:
        return None
    rec = Receiver().__enter__()
    rec.sink.httpd.RequestHandlerClass.log_message = lambda *a: None  # one line per POST otherwise
    return rec.url


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bench-dir", default=str(next((p for p in (ROOT.parent / "shared" / "bench",
                                                                 ROOT.parent.parent / "shared" / "bench")
                                                     if p.is_dir()), ROOT.parent / "shared" / "bench")))
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--workloads", default="seq,pipelined,1MiB",
                    help="comma-separated subset of seq,pipelined,1MiB (the table needs all three)")
    ap.add_argument("--targets", default="",
                    help="comma-separated subset of the targets (default: all; 'direct' is always run)")
    opts = ap.parse_args()
    bench = Path(opts.bench_dir)
    om = [sys.executable, "-m", "omproxy_tui", "stdio"]
    sockdir = tempfile.mkdtemp(prefix="ompb", dir="/tmp")
    sock = os.path.join(sockdir, "b.sock")
    targets = {
        "direct": ([], None),
        "floor_relay.py": ([sys.executable, str(bench / "floor_relay.py"), "--"], None),
        "raw_relay.py": ([sys.executable, str(bench / "raw_relay.py"), "--"], None),
        "omproxy stdio": ([*om, "--"], None),
        "omproxy stdio --no-restart": ([*om, "--no-restart", "--"], None),
        "omproxy + seed-style hook": ([*om, "--hooks", "omproxy_tui.examples.method_counter:MethodCounter", "--"],
                                      None),
        "omproxy --inspect (no one attached)": ([*om, "--inspect-socket", sock, "--"], None),
        "omproxy --inspect + 1 inspector": ([*om, "--inspect-socket", sock, "--"], sock),
    }
    workloads = {
        "seq": ["--n", str(opts.n)],
        "pipelined": ["--n", str(opts.n * 3), "--inflight", "16"],
        "1MiB": ["--n", "100", "--size", str(1 << 20)],
    }
    receiver = _otlp_receiver()
    if receiver is not None:  # `--otlp` exporting to a live OTLP/HTTP receiver (oteltest's sink)
        targets["omproxy --otlp (live receiver)"] = ([*om, "--otlp", receiver, "--"], None)
    workloads = {w: a for w, a in workloads.items() if w in opts.workloads.split(",")}
    if opts.targets:
        keep = {"direct", *opts.targets.split(",")}
        targets = {k: v for k, v in targets.items() if k in keep}
    results: dict = {name: {w: [] for w in workloads} for name in targets}
    for r in range(opts.rounds):
        # Direct first; the others in turn, in reverse order every other round (no target always
        # runs right after the same one).
        order = [n for n in targets if n != "direct"]
        order = ["direct", *(order if r % 2 == 0 else order[::-1])]
        for w, args in workloads.items():
            for name in order:
                prefix, attach = targets[name]
                res = run(bench, prefix, args, attach)
                results[name][w].append(res)
                print(f"round {r + 1} {w:9s} {name:38s} p50={res['p50_us']:8.1f}us "
                      f"cpu/req={res['cpu_proxy_us_per_req']:6.1f}us rps={res['throughput_rps']:8.0f}",
                      file=sys.stderr, flush=True)
    med = statistics.median

    def added(name: str, w: str, key: str) -> float:
        return med([a[key] - d[key] for a, d in zip(results[name][w], results["direct"][w])])

    if "1MiB" in workloads and {"floor_relay.py", "raw_relay.py"} <= set(targets):
        # Issue 11's bar for 1 MiB responses: omproxy adds at most floor + 0.25 x raw, same run.
        floor, raw = added("floor_relay.py", "1MiB", "p50_us"), added("raw_relay.py", "1MiB", "p50_us")
        bar = floor + 0.25 * raw
        print(f"1 MiB responses, added p50 (medians of {opts.rounds} rounds): floor_relay.py {floor:.0f} us, "
              f"raw_relay.py {raw:.0f} us, bar = floor + 0.25 x raw = {bar:.0f} us")
        for name in targets:
            if name.startswith("omproxy"):
                mine = added(name, "1MiB", "p50_us")
                print(f"  {name}: {mine:.0f} us ({'within' if mine <= bar else 'OVER'} the bar)")
    if {"omproxy stdio", "omproxy stdio --no-restart"} <= set(targets):
        # Issue 12: hot restart attached but never triggered must cost nothing measurable. The
        # two runs of a round are next to each other: compare them directly, round by round.
        for w in workloads:
            on, off = results["omproxy stdio"][w], results["omproxy stdio --no-restart"][w]
            diffs = sorted(a["p50_us"] - b["p50_us"] for a, b in zip(on, off))
            cpu = sorted(a["cpu_proxy_us_per_req"] - b["cpu_proxy_us_per_req"] for a, b in zip(on, off))
            print(f"hot restart attached vs --no-restart, {w}: p50 difference per round median {med(diffs):+.1f} us "
                  f"(range {diffs[0]:+.1f} .. {diffs[-1]:+.1f}); cpu/req {med(cpu):+.1f} us "
                  f"(range {cpu[0]:+.1f} .. {cpu[-1]:+.1f})")
    plain, otlp = "omproxy stdio", "omproxy --otlp (live receiver)"
    if "seq" in workloads and {plain, otlp} <= set(targets):
        # Issue 14's bar for --otlp: the plain relay's added p50 + 30 us, its CPU per request + 60 us.
        lat = added(otlp, "seq", "p50_us") - added(plain, "seq", "p50_us")
        cpu = med([o["cpu_proxy_us_per_req"] - p["cpu_proxy_us_per_req"]
                   for o, p in zip(results[otlp]["seq"], results[plain]["seq"])])
        print(f"--otlp over the plain relay (medians of {opts.rounds} rounds, {opts.n} requests, load average "
              f"{os.getloadavg()[0]:.2f}): added p50 {lat:+.0f} us ({'met' if lat <= 30 else 'NOT met'}: <= +30), "
              f"CPU/req {cpu:+.0f} us ({'met' if cpu <= 60 else 'NOT met'}: <= +60)")
    if set(workloads) != {"seq", "pipelined", "1MiB"}:
        for name in targets:
            print(f"{name:38s} " + "  ".join(
                f"{w}: p50 {'—' if name == 'direct' else format(added(name, w, 'p50_us'), '+.0f')} us, "
                f"cpu/req {med([x['cpu_proxy_us_per_req'] for x in results[name][w]]):.0f} us, "
                f"{med([x['throughput_rps'] for x in results[name][w]]):.0f} req/s" for w in workloads))
        return
    rows = ["| target | added p50 (µs) | proxy CPU/req (µs) | pipelined req/s (16 in flight) | 1 MiB: added p50 (µs) "
            "| start to first reply (ms, added) | proxy RSS (MB) |", "|---|---|---|---|---|---|---|"]
    for name in targets:
        seq = results[name]["seq"]
        rows.append("| {} | {} | {} | {:.0f} | {} | {} | {} |".format(
            name,
            "—" if name == "direct" else f"{added(name, 'seq', 'p50_us'):.0f}",
            "—" if name == "direct" else f"{med([x['cpu_proxy_us_per_req'] for x in seq]):.0f}",
            med([x["throughput_rps"] for x in results[name]["pipelined"]]),
            "—" if name == "direct" else f"{added(name, '1MiB', 'p50_us'):.0f}",
            f"{med([x['startup_ms'] for x in seq]):.0f}" if name == "direct" else
            f"+{added(name, 'seq', 'startup_ms'):.0f}",
            "—" if name == "direct" else f"{med([x['rss_proxy_kb'] for x in seq]) / 1024:.1f}",
        ))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
