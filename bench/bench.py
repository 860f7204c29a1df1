#!/usr/bin/env python3
"""Runs the Conduit benchmark against one backend and prints a Markdown table.

Starts the given binary on a fresh database (SQLite file, or a new PostgreSQL
database), seeds the deterministic data set through the API (bench/seed.py),
then drives each workload with wrk at 32 connections: a warm-up, then RUNS
runs of DURATION seconds; the table shows the median run. The first workload
is the ceiling, GET /healthz of the same binary (no database, no JSON); every
other figure is also given as a share of it. While the read workloads run,
the server's resident memory is sampled every 100 ms; its CPU time is read
from /proc before and after each workload.

A run with any non-2xx answer or socket error is reported as FAILED, never as
throughput, and makes the script exit 1.

Usage: bench/bench.py BINARY sqlite|postgres [--duration 10] [--runs 3]
       [--warmup 3] [--connections 32] [--pg-url postgres://...]
Needs wrk (Debian package) and python3; standard library only.
"""

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = "benchmark-secret-of-at-least-32-bytes!!"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lua_string(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_script(folder, name, body):
    path = os.path.join(folder, name + ".lua")
    with open(path, "w") as f:
        f.write(body)
    return path


def list_etag(base, path):
    """The ETag of one anonymous read of `path`."""
    with urllib.request.urlopen(base + path, timeout=10) as r:
        return r.headers["ETag"]


def body_bytes(base, path, encoding):
    """The size of `path`'s body on the wire with `Accept-Encoding: encoding`."""
    request = urllib.request.Request(base + path, headers={"Accept-Encoding": encoding})
    with urllib.request.urlopen(request, timeout=10) as r:
        return len(r.read()), r.headers.get("Content-Encoding", "identity")


def workloads(seed, folder, base):
    """(name, path, lua script or None, is_read) for each workload."""
    tokens = "{" + ",".join(lua_string(t) for t in seed["tokens"]) + "}"
    users = "{" + ",".join(lua_string(u) for u in seed["users"]) + "}"
    # Each wrk thread and connection picks tokens round-robin.
    rotate = f"""
local tokens = {tokens}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", PATH, {{["Authorization"] = "Token " .. tokens[(i % #tokens) + 1]}})
end
"""
    # The web app's pages signed in: the same tokens, in the session cookie.
    rotate_cookie = rotate.replace('["Authorization"] = "Token " ..', '["Cookie"] = "conduit_session=" ..')
    busiest = seed["busiest_slug"]
    author = seed["users"][7]

    def with_token(name, path):
        return write_script(folder, name, rotate.replace("PATH", lua_string(path)))

    def with_cookie(name, path):
        return write_script(folder, name, rotate_cookie.replace("PATH", lua_string(path)))

    create = f"""
local tokens = {tokens}
local n = 0
local id = tostring(math.random(1, 1000000000))
request = function()
  n = n + 1
  local body = '{{"article":{{"title":"Bench ' .. id .. ' ' .. n .. '","description":"d","body":"A body for the benchmark.","tagList":["bench"]}}}}'
  return wrk.format("POST", "/api/articles", {{["Content-Type"] = "application/json", ["Authorization"] = "Token " .. tokens[(n % #tokens) + 1]}}, body)
end
"""
    login = f"""
local users = {users}
local n = 0
request = function()
  n = n + 1
  local u = users[(n % #users) + 1]
  local body = '{{"user":{{"email":"' .. u .. '@example.com","password":"password-' .. u .. '"}}}}'
  return wrk.format("POST", "/api/users/login", {{["Content-Type"] = "application/json"}}, body)
end
"""
    def with_headers(name, headers, extra=""):
        lines = "".join(f"wrk.headers[{lua_string(k)}] = {lua_string(v)}\n" for k, v in headers.items())
        return write_script(folder, name, lines + extra)

    # Counts the 304s of a revalidating client, summed over wrk's threads.
    count_statuses = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) not_modified = 0; other = 0 end
function response(status, headers, body)
  if status == 304 then not_modified = not_modified + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  local n, o = 0, 0
  for _, t in ipairs(threads) do n = n + t:get("not_modified"); o = o + t:get("other") end
  io.write(string.format("statuses: %d 304, %d other\\n", n, o))
end
"""
    list20 = "/api/articles?limit=20"
    return [
        ("ceiling: GET /healthz", "/healthz", None, True),
        ("list articles", list20, None, True),
        # The same list on the wire (WIRE): compressed as a browser asks,
        # then revalidated by a client that holds its ETag.
        ("list articles, Accept-Encoding: gzip, br", list20,
         with_headers("list_br", {"Accept-Encoding": "gzip, br"}), True),
        ("list articles, Accept-Encoding: gzip", list20,
         with_headers("list_gzip", {"Accept-Encoding": "gzip"}), True),
        ("list articles, If-None-Match", list20,
         with_headers("list_revalidate", {"If-None-Match": list_etag(base, list20)}, count_statuses), True),
        ("list articles, with token", "/api/articles?limit=20",
         write_script(folder, "list_token", rotate.replace("PATH", '"/api/articles?limit=20"')), True),
        ("list by tag", "/api/articles?tag=tag07&limit=20", None, True),
        ("feed", "/api/articles/feed?limit=20",
         write_script(folder, "feed", rotate.replace("PATH", '"/api/articles/feed?limit=20"')), True),
        ("one article", f"/api/articles/{seed['slugs'][500]}", None, True),
        ("comments of an article", f"/api/articles/{busiest}/comments", None, True),
        ("profile", f"/api/profiles/{seed['users'][7]}", None, True),
        ("tags", "/api/tags", None, True),
        # The web app's pages, each beside the API call that reads the same
        # data (PAGE_PAIRS): ten articles to a page, as the pages show.
        ("page: home", "/", None, True),
        ("page's API: list articles, 10", "/api/articles?limit=10", None, True),
        ("page: home, signed in (Your Feed)", "/", with_cookie("home_cookie", "/"), True),
        ("page's API: feed, 10, with token", "/api/articles/feed?limit=10",
         with_token("feed10_token", "/api/articles/feed?limit=10"), True),
        ("page: article", f"/article/{busiest}", None, True),
        ("page's API: one article", f"/api/articles/{busiest}", None, True),
        ("page: article, signed in", f"/article/{busiest}",
         with_cookie("article_cookie", f"/article/{busiest}"), True),
        ("page's API: one article, with token", f"/api/articles/{busiest}",
         with_token("article_token", f"/api/articles/{busiest}"), True),
        ("page: profile", f"/profile/{author}", None, True),
        ("page's API: articles by author, 10", f"/api/articles?author={author}&limit=10", None, True),
        ("page: profile, signed in", f"/profile/{author}",
         with_cookie("profile_cookie", f"/profile/{author}"), True),
        ("page's API: articles by author, 10, with token", f"/api/articles?author={author}&limit=10",
         with_token("author_token", f"/api/articles?author={author}&limit=10"), True),
        ("create article", "/api/articles", write_script(folder, "create", create), False),
        ("login", "/api/users/login", write_script(folder, "login", login), False),
    ]


# The list as it travels: plain, compressed, revalidated.
WIRE = [
    ("list articles", "identity"),
    ("list articles, Accept-Encoding: gzip, br", "gzip, br"),
    ("list articles, Accept-Encoding: gzip", "gzip"),
    ("list articles, If-None-Match", None),
]

# Each page and the API call that reads the same data: a page should manage
# at least half the API call's throughput.
PAGE_PAIRS = [
    ("page: home", "page's API: list articles, 10"),
    ("page: home, signed in (Your Feed)", "page's API: feed, 10, with token"),
    ("page: article", "page's API: one article"),
    ("page: article, signed in", "page's API: one article, with token"),
    ("page: profile", "page's API: articles by author, 10"),
    ("page: profile, signed in", "page's API: articles by author, 10, with token"),
]

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_wrk(output):
    def latency(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        return float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(g) for g in sock.groups()) if sock else 0)
    read = re.search(r"requests in [\d.]+\w+, ([\d.]+)(B|KB|MB|GB) read", output)
    scale = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}
    wire = float(read.group(1)) * scale[read.group(2)] / max(requests, 1) if read else float("nan")
    statuses = re.search(r"statuses: (\d+) 304, (\d+) other", output)
    not_modified = int(statuses.group(1)) / max(int(statuses.group(1)) + int(statuses.group(2)), 1) \
        if statuses else None
    return {"rps": rps, "p50": latency(50), "p99": latency(99), "errors": errors, "requests": requests,
            "wire_bytes": wire, "not_modified": not_modified}


def run_wrk(base, path, script, seconds, connections):
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script:
        command += ["-s", script]
    command.append(base + path)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds():
    """CPU time of every local PostgreSQL process (server and backends)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
            total += cpu_seconds(entry)
        except OSError:
            continue  # exited meanwhile
    return total


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.active, self.stopped = pid, 0, False, False

    def run(self):
        while not self.stopped:
            if self.active:
                self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.1)


def wait_ready(base):
    for _ in range(600):
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    sys.exit("bench: the server did not start")


def psql(url, sql):
    subprocess.run(["psql", url, "-qc", sql], check=True, stdout=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("backend", choices=["sqlite", "postgres"])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--only", default=os.environ.get("BENCH_ONLY", ""),
                        help="comma-separated words; run only the workloads whose name contains one "
                             "(the ceiling always runs)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is needed (apt-get install wrk)")

    folder = tempfile.mkdtemp(prefix="conduit-bench-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"CONDUIT_LISTEN": f"127.0.0.1:{port}", "CONDUIT_LOG_LEVEL": "warn", "CONDUIT_SECRET": SECRET,
           "CONDUIT_LIMITS__LOGIN_FAILURES_PER_ADDRESS": "1000000"}
    # Other server settings to compare (e.g. CONDUIT_POOL_SIZE=2) pass through.
    env.update({k: v for k, v in os.environ.items()
                if k.startswith("CONDUIT_") and k not in env and k != "CONDUIT_DATABASE_URL"})
    database = None
    if args.backend == "sqlite":
        env["CONDUIT_DATABASE_URL"] = f"sqlite://{folder}/conduit.db"
    else:
        database = f"conduit_bench_{os.getpid()}"
        psql(args.pg_url + "/postgres", f"CREATE DATABASE {database}")
        env["CONDUIT_DATABASE_URL"] = f"{args.pg_url}/{database}?sslmode=disable"
        subprocess.run([args.binary, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    server = subprocess.Popen([args.binary, "serve"], env=env)
    try:
        wait_ready(base)
        seed_file = os.path.join(folder, "seed.json")
        subprocess.run([sys.executable, os.path.join(HERE, "seed.py"), base, "--out", seed_file], check=True)
        if database:
            # The state autovacuum reaches within a minute of a bulk load:
            # statistics, and visibility maps for index-only scans.
            psql(f"{args.pg_url}/{database}", "VACUUM ANALYZE")
        with open(seed_file) as f:
            seed = json.load(f)
        sampler = RssSampler(server.pid)
        sampler.start()
        results = []
        only = [word for word in args.only.split(",") if word]
        bodies = {encoding: body_bytes(base, "/api/articles?limit=20", encoding)
                  for _, encoding in WIRE if encoding}
        for index, (name, path, script, is_read) in enumerate(workloads(seed, folder, base)):
            if index and only and not any(word in name for word in only):
                continue
            run_wrk(base, path, script, args.warmup, args.connections)
            sampler.active = is_read
            cpu_before, pg_before = cpu_seconds(server.pid), postgres_cpu_seconds()
            runs = [run_wrk(base, path, script, args.duration, args.connections) for _ in range(args.runs)]
            cpu = cpu_seconds(server.pid) - cpu_before
            pg_cpu = postgres_cpu_seconds() - pg_before
            sampler.active = False
            median = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
            errors = sum(r["errors"] for r in runs)
            requests = sum(r["requests"] for r in runs)
            results.append({"name": name, **median, "errors": errors,
                            "cpu_ms_per_request": cpu * 1000 / max(requests, 1),
                            "pg_cpu_ms_per_request": pg_cpu * 1000 / max(requests, 1)})
            print(f"bench: {name}: {median['rps']:.0f} req/s, {errors} errors", file=sys.stderr)
        sampler.stopped = True
    finally:
        server.terminate()
        server.wait()
        if database:
            psql(args.pg_url + "/postgres", f"DROP DATABASE IF EXISTS {database}")
        shutil.rmtree(folder, ignore_errors=True)

    ceiling = results[0]["rps"]
    print(f"\n### {args.backend}: {args.runs} x {args.duration} s at {args.connections} connections, "
          f"median run; peak RSS during reads {sampler.peak / 1024:.1f} MiB\n")
    # On PostgreSQL, the database's own CPU per request too: both share the cores.
    pg = args.backend == "postgres"
    print("| workload | req/s | % of ceiling | p50 ms | p99 ms | server CPU ms/req |"
          + (" PostgreSQL CPU ms/req |" if pg else "") + " errors |")
    print("|---|---:|---:|---:|---:|---:|" + ("---:|" if pg else "") + "---:|")
    failed = False
    for r in results:
        if r["errors"]:
            failed = True
            print(f"| {r['name']} | FAILED | | | | |" + (" |" if pg else "") + f" {r['errors']} |")
            continue
        print(f"| {r['name']} | {r['rps']:.0f} | {100 * r['rps'] / ceiling:.1f} % | {r['p50']:.2f} | "
              f"{r['p99']:.2f} | {r['cpu_ms_per_request']:.3f} |"
              + (f" {r['pg_cpu_ms_per_request']:.3f} |" if pg else "") + " 0 |")
    by_name = {r["name"]: r for r in results if not r["errors"]}
    pairs = [(by_name[page], by_name[api]) for page, api in PAGE_PAIRS if page in by_name and api in by_name]
    if pairs:
        print("\n| page | req/s | the API call reading the same data | req/s | page / API |")
        print("|---|---:|---|---:|---:|")
        for page, api in pairs:
            page_name = page["name"].split(": ", 1)[1]
            api_name = api["name"].split(": ", 1)[1]
            print(f"| {page_name} | {page['rps']:.0f} | {api_name} | {api['rps']:.0f} | "
                  f"{page['rps'] / api['rps']:.2f} |")
    wire = [(by_name[name], encoding) for name, encoding in WIRE if name in by_name]
    if len(wire) > 1 and wire[0][0]["name"] == WIRE[0][0]:
        plain = wire[0][0]
        print("\n| the list of 20 on the wire | req/s | share of plain req/s | body bytes | "
              "share of plain bytes | bytes per response, headers included | 304s |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        plain_body = bodies["identity"][0]
        for r, encoding in wire:
            how = r["name"].split(", ", 1)[1] if ", " in r["name"] else "plain"
            if encoding:
                size, used = bodies[encoding]
                body = f"{size} ({used})"
                share = f"{size / plain_body:.2f}"
            else:
                body, share = "none", "0"
            revalidated = f"{100 * r['not_modified']:.0f} %" if r["not_modified"] is not None else ""
            print(f"| {how} | {r['rps']:.0f} | {r['rps'] / plain['rps']:.2f} | {body} | {share} | "
                  f"{r['wire_bytes']:.0f} | {revalidated} |")
    login = next((r for r in results if r["name"] == "login" and not r["errors"]), None)
    if login:
        # Login is bound by password hashing: each costs this much CPU, and
        # only os.cpu_count() of them can run at once.
        limit = (os.cpu_count() or 1) * 1000 / login["cpu_ms_per_request"]
        print(f"\nlogin: {login['rps']:.1f} req/s; {login['cpu_ms_per_request']:.1f} ms of server CPU per login "
              f"on {os.cpu_count()} cores bounds it at {limit:.1f} req/s ({100 * login['rps'] / limit:.0f} % of that)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"backend": args.backend, "peak_rss_mib": sampler.peak / 1024, "results": results}, f)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
