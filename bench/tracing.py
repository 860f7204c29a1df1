#!/usr/bin/env python3
"""The per-request tax and the cost of traces, side by side in one run.

Servers, on one SQLite database seeded by bench/seed.py:
  - hello: the smallest hyper server (bench/hello), answering "ok": the floor
    of what any request costs on this machine, stack and runtime;
  - Conduit at the default log level (info, access log on), tracing off;
  - the same at warn (no access log), tracing off;
  - the same at info with traces exported at 10 % and at 100 % sampling, to
    an OTLP/HTTP receiver started here (it reads each export and answers
    200, as a collector would; decoding it is the collector's cost, not the
    server's).

Each (server, workload) pair runs ROUNDS times for DURATION seconds with wrk
(2 threads, 32 connections), the configurations interleaved round by round
so that drift of the machine hits all alike; the table gives the median
round. A run's server CPU per request comes from /proc. After the traced
runs, the server's own counters tell how many spans were exported, failed or
dropped: a run that dropped spans is flagged, since it did less work.

With --before BINARY, an earlier build runs beside them (log info, no
traces), so a change to the per-request tax is measured in the same run.

Usage: bench/tracing.py CONDUIT_BINARY HELLO_BINARY [--duration 5] [--rounds 3]
       [--before EARLIER_CONDUIT_BINARY]
Needs wrk; standard library only.
"""

import argparse
import http.server
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the shared helpers: wrk, /proc, readiness)

HERE = os.path.dirname(os.path.abspath(__file__))


class Receiver(http.server.ThreadingHTTPServer):
    """Takes OTLP/HTTP exports on /v1/traces and counts their bytes."""
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.exports = self.bytes = 0
        self.lock = threading.Lock()


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        body = self.rfile.read(length)
        with self.server.lock:
            self.server.exports += 1
            self.server.bytes += len(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def start_conduit(binary, folder, port, env_extra):
    env = {"CONDUIT_LISTEN": f"127.0.0.1:{port}", "CONDUIT_SECRET": bench.SECRET,
           "CONDUIT_DATABASE_URL": f"sqlite://{folder}/conduit.db",
           "CONDUIT_LIMITS__LOGIN_FAILURES_PER_ADDRESS": "1000000", **env_extra}
    # The log goes to a file, as a container runtime's would.
    log = open(os.path.join(folder, f"server-{port}.log"), "ab")
    process = subprocess.Popen([binary, "serve"], env=env, stderr=log, stdout=subprocess.DEVNULL)
    bench.wait_ready(f"http://127.0.0.1:{port}")
    return process


def span_counts(base):
    text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
    counts = {}
    for outcome, value in re.findall(r'^conduit_trace_spans_total\{outcome="(\w+)"\} (\S+)$', text, re.M):
        counts[outcome] = float(value)
    return counts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("conduit")
    parser.add_argument("hello")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--before", help="an earlier conduit binary to run beside (log info)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is needed (apt-get install wrk)")

    folder = tempfile.mkdtemp(prefix="conduit-tracing-")
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}"
    configs = [
        ("tracing off, log info", {}),
        ("tracing off, log warn", {"CONDUIT_LOG_LEVEL": "warn"}),
        ("tracing 10 %", {"CONDUIT_TRACING__ENDPOINT": endpoint, "CONDUIT_TRACING__SAMPLE_RATIO": "0.1"}),
        ("tracing 100 %", {"CONDUIT_TRACING__ENDPOINT": endpoint, "CONDUIT_TRACING__SAMPLE_RATIO": "1"}),
    ]
    processes = []
    try:
        # Seed through one server, then serve the same file from each.
        seeder_port = bench.free_port()
        seeder = start_conduit(args.conduit, folder, seeder_port, {"CONDUIT_LOG_LEVEL": "warn"})
        seed_file = os.path.join(folder, "seed.json")
        subprocess.run([sys.executable, os.path.join(HERE, "seed.py"), f"http://127.0.0.1:{seeder_port}",
                        "--out", seed_file], check=True)
        seeder.terminate()
        seeder.wait()
        with open(seed_file) as f:
            seed = json.load(f)
        workloads = [("GET /healthz", "/healthz"),
                     ("list articles", "/api/articles?limit=20"),
                     ("one article", f"/api/articles/{seed['slugs'][500]}")]

        hello_port = bench.free_port()
        hello = subprocess.Popen([args.hello, f"127.0.0.1:{hello_port}"], stdout=subprocess.DEVNULL)
        processes.append(hello)
        bench.wait_ready(f"http://127.0.0.1:{hello_port}")
        servers = [("hello (hyper)", hello, f"http://127.0.0.1:{hello_port}")]
        if args.before:
            port = bench.free_port()
            process = start_conduit(args.before, folder, port, {})
            processes.append(process)
            servers.append(("before, log info", process, f"http://127.0.0.1:{port}"))
        for name, extra in configs:
            port = bench.free_port()
            process = start_conduit(args.conduit, folder, port, extra)
            processes.append(process)
            servers.append((name, process, f"http://127.0.0.1:{port}"))

        results = {}  # (server, workload) -> [(rps, cpu_us, errors)]
        traced = [(name, base) for name, _, base in servers if name.startswith("tracing")]
        before_spans = {name: span_counts(base) for name, base in traced}
        for round_ in range(args.rounds):
            for workload, path in workloads:
                for name, process, base in servers:
                    if name.startswith("hello") and workload != "GET /healthz":
                        continue
                    cpu = bench.cpu_seconds(process.pid)
                    run = bench.run_wrk(base, path, None, args.duration, args.connections)
                    used = bench.cpu_seconds(process.pid) - cpu
                    results.setdefault((name, workload), []).append(
                        (run["rps"], 1e6 * used / max(run["requests"], 1), run["errors"]))
                    print(f"bench: round {round_ + 1}, {workload}, {name}: {run['rps']:.0f} req/s",
                          file=sys.stderr)
        spans = {}
        for name, base in traced:
            after = span_counts(base)
            spans[name] = {k: after.get(k, 0) - before_spans[name].get(k, 0)
                           for k in ("exported", "failed", "dropped")}
    finally:
        for process in processes:
            process.terminate()
            process.wait()
        receiver.shutdown()
        shutil.rmtree(folder, ignore_errors=True)

    def median(name, workload):
        runs = results[(name, workload)]
        rps = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        return rps, cpu, sum(r[2] for r in runs)

    print(f"\n### The per-request tax and traces: {args.rounds} rounds x {args.duration} s at "
          f"{args.connections} connections, median round; SQLite, 1,000 articles\n")
    hello_rps, hello_cpu, _ = median("hello (hyper)", "GET /healthz")
    print(f"hello-world (hyper, same runtime): {hello_rps:.0f} req/s, {hello_cpu:.1f} µs of CPU per request\n")
    print("| workload | server | req/s | share | server CPU µs/req | errors |")
    print("|---|---|---:|---:|---:|---:|")
    failed = False
    for workload, _ in workloads:
        base_rps = median("tracing off, log info", workload)[0]
        names = (["before, log info"] if args.before else []) + [
            "tracing off, log info", "tracing off, log warn", "tracing 10 %", "tracing 100 %"]
        for name in names:
            rps, cpu, errors = median(name, workload)
            failed |= errors > 0
            if workload == "GET /healthz" and not name.startswith("tracing "):
                share = f"{100 * rps / hello_rps:.0f} % of hello"
            elif workload == "GET /healthz" and name.startswith("tracing off"):
                share = f"{100 * rps / hello_rps:.0f} % of hello"
            else:
                share = f"{100 * rps / base_rps:.0f} % of untraced"
            print(f"| {workload} | {name} | {rps:.0f} | {share} | {cpu:.1f} | {errors} |")
    print("\n| server | spans exported | failed | dropped (queue full) |")
    print("|---|---:|---:|---:|")
    for name in ("tracing 10 %", "tracing 100 %"):
        s = spans[name]
        print(f"| {name} | {s['exported']:.0f} | {s['failed']:.0f} | {s['dropped']:.0f} |")
        failed |= s["failed"] > 0
    print(f"\ncollector stand-in: {receiver.exports} exports, {receiver.bytes / 1e6:.1f} MB received")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
