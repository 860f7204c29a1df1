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

Data sizes (--sizes 1000,100000: article counts, ascending): every workload
runs at the first size (the seed's 1,000 articles, grown through the API if the
first size is larger). Then, for each further size, the same database grows
through the API (bench/seed.py --grow-to; the "create article" workload's
articles are deleted first) and only the list workloads (LIST) run again; a
table compares each list workload across the sizes.

Replica mode (--replica, PostgreSQL only): instead of --pg-url, starts a
throwaway primary and a streaming replica (PG_BIN, as the postgres OS user),
gives the server the primary as CONDUIT_DATABASE_URL and the replica as
CONDUIT_DATABASE_READ_URL, waits for the replica to replay the primary's WAL
before measuring, and reports the CPU of each cluster's processes separately.

Usage: bench/bench.py BINARY sqlite|postgres [--duration 10] [--runs 3]
       [--warmup 3] [--connections 32] [--pg-url postgres://...]
       [--sizes 1000[,N...]] [--replica] [--json FILE]
Needs wrk (Debian package) and python3; standard library only.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PG_BIN = "/usr/lib/postgresql/15/bin"
SEEDED_ARTICLES = 1000  # what bench/seed.py creates
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


def articles_count(base):
    """The server's global articlesCount."""
    with urllib.request.urlopen(base + "/api/articles?limit=1", timeout=60) as r:
        return json.load(r)["articlesCount"]


def deep_page(base):
    """The last page of 20 articles, at the count just now."""
    return f"/api/articles?limit=20&offset={max(articles_count(base) - 20, 0)}"


def workloads(seed, folder, base):
    """(name, path, lua script or None, is_read) for each workload. A path that
    is a function is called (with base) just before its workload runs, and so
    is a script that is one (without arguments)."""
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
        ("list by author", f"/api/articles?author={author}&limit=20", None, True),
        ("list favorited by a user", f"/api/articles?favorited={author}&limit=20", None, True),
        # The last page: the offset is read from articlesCount before it runs.
        ("list articles, deep page", deep_page, None, True),
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
        # Search (SEARCH): a word in every article, a word in about one in
        # eight (a tag's name, in tags and titles), a word in one title, and
        # two words together; each beside the plain list.
        ("search, one word in every article", "/api/articles?q=lorem&limit=20", None, True),
        ("search, one word in 1 of 8", "/api/articles?q=tag07&limit=20", None, True),
        ("search, one word in one article", "/api/articles?q=0500&limit=20", None, True),
        ("search, two words", "/api/articles?q=ipsum+tag07&limit=20", None, True),
        # The blog's Atom feed (20 whole articles), and a reader polling it.
        ("Atom feed", "/atom.xml", None, True),
        # The ETag is read just before the workload runs: the feed changes
        # as the data grows.
        ("Atom feed, If-None-Match", "/atom.xml",
         lambda: with_headers("atom_revalidate", {"If-None-Match": list_etag(base, "/atom.xml")}, count_statuses),
         True),
        ("create article", "/api/articles", write_script(folder, "create", create), False),
        ("login", "/api/users/login", write_script(folder, "login", login), False),
    ]


# The searches, each compared with the plain list ("list articles").
SEARCH = ["search, one word in every article", "search, one word in 1 of 8",
          "search, one word in one article", "search, two words"]

# The workloads that run again at each further data size.
LIST = ["list articles", "list articles, with token", "list by tag", "feed", "list by author",
        "list favorited by a user", "list articles, deep page"] + SEARCH + [
        "Atom feed", "Atom feed, If-None-Match"]

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


def postgres_pids():
    """The pids of every running PostgreSQL process (server and backends)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() == "postgres":
                    yield entry
        except OSError:
            continue  # exited meanwhile


def postgres_cpu_seconds():
    """CPU time of every local PostgreSQL process (server and backends)."""
    total = 0.0
    for pid in postgres_pids():
        try:
            total += cpu_seconds(pid)
        except OSError:
            continue  # exited meanwhile
    return total


def parent_pid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def cluster_cpu_seconds(postmasters):
    """CPU time of each cluster's PostgreSQL processes, exited ones included:
    {name: seconds} for postmasters {name: pid}. A process belongs to the
    postmaster that its chain of parent pids reaches."""
    owner = {pid: name for name, pid in postmasters.items()}
    totals = dict.fromkeys(postmasters, 0.0)
    for entry in postgres_pids():
        try:
            pid = int(entry)
            while pid > 1 and pid not in owner:
                pid = parent_pid(pid)
            if pid in owner:
                totals[owner[pid]] += cpu_seconds(entry)
        except OSError:
            continue  # exited meanwhile
    for name, pid in postmasters.items():
        # Processes that exited (connections closed, parallel workers,
        # autovacuum workers): the postmaster has reaped them.
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        totals[name] += (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    return totals


def as_postgres(*command, **kwargs):
    """Runs a PostgreSQL program as the postgres OS user."""
    return subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(PG_BIN, command[0]), *command[1:]],
                          check=True, stdout=subprocess.DEVNULL, **kwargs)


class ReplicatedCluster:
    """A throwaway primary and a streaming replica of it, on 127.0.0.1."""

    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="conduit-bench-pg-")
        shutil.chown(self.folder, "postgres", "postgres")
        self.primary = os.path.join(self.folder, "primary")
        self.replica = os.path.join(self.folder, "replica")
        self.started = []
        self.primary_port, self.replica_port = free_port(), free_port()
        while self.replica_port == self.primary_port:
            self.replica_port = free_port()
        self.primary_url = f"postgres://postgres@127.0.0.1:{self.primary_port}"
        self.replica_url = f"postgres://postgres@127.0.0.1:{self.replica_port}"

    def start(self):
        as_postgres("initdb", "-D", self.primary, "-A", "trust")
        with open(os.path.join(self.primary, "postgresql.conf"), "a") as f:
            f.write(f"\nwal_level = replica\nmax_wal_senders = 5\nport = {self.primary_port}\n"
                    f"listen_addresses = '127.0.0.1'\nunix_socket_directories = '{self.folder}'\n")
        with open(os.path.join(self.primary, "pg_hba.conf"), "a") as f:
            f.write("\nhost replication all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 trust\n")
        self.pg_ctl(self.primary, "start")
        as_postgres("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres",
                    "-D", self.replica, "-R")
        with open(os.path.join(self.replica, "postgresql.conf"), "a") as f:
            f.write(f"\nport = {self.replica_port}\n")
        self.pg_ctl(self.replica, "start")

    def pg_ctl(self, data, action):
        if action == "start":
            as_postgres("pg_ctl", "-D", data, "-w", "-l", data + ".log", "start")
            self.started.append(data)
        else:
            as_postgres("pg_ctl", "-D", data, "-w", "-m", "fast", "stop")

    def postmasters(self):
        """{"primary": pid, "replica": pid}, from each postmaster.pid."""
        pids = {}
        for name, data in (("primary", self.primary), ("replica", self.replica)):
            with open(os.path.join(data, "postmaster.pid")) as f:
                pids[name] = int(f.readline())
        return pids

    def wait_replayed(self, timeout=600):
        """Waits until the replica has replayed the primary's current WAL."""
        lsn = psql_value(f"{self.primary_url}/postgres", "SELECT pg_current_wal_lsn()")
        deadline = time.monotonic() + timeout
        while psql_value(f"{self.replica_url}/postgres", f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'") != "t":
            if time.monotonic() > deadline:
                sys.exit(f"bench: the replica did not replay {lsn} within {timeout} s")
            time.sleep(0.1)

    def stop(self):
        for data in reversed(self.started):
            try:
                self.pg_ctl(data, "stop")
            except subprocess.CalledProcessError as error:
                print(f"bench: stopping {data}: {error}", file=sys.stderr)
        shutil.rmtree(self.folder, ignore_errors=True)


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


def psql_value(url, sql):
    return subprocess.run(["psql", url, "-Atc", sql], check=True, capture_output=True, text=True).stdout.strip()


def parse_sizes(text):
    try:
        sizes = [int(word) for word in text.split(",") if word.strip()]
    except ValueError:
        sys.exit(f"bench: --sizes wants article counts separated by commas, not {text!r}")
    if not sizes or sizes != sorted(set(sizes)) or sizes[0] < SEEDED_ARTICLES:
        sys.exit(f"bench: --sizes must ascend and start at {SEEDED_ARTICLES} or more, not {text!r}")
    return sizes


def grow(base, seed_file, size, drop_tag=None):
    """Adds articles through the API until the server holds `size` of them."""
    command = [sys.executable, os.path.join(HERE, "seed.py"), base, "--out", seed_file, "--grow-to", str(size)]
    if drop_tag:
        command += ["--drop-tag", drop_tag]
    subprocess.run(command, check=True)


def measure(base, pid, workload, args, sampler, database_cpu):
    """Warm-up, then args.runs runs of one workload: the median run, with the
    errors of all runs and the CPU per request of the server and databases."""
    name, path, script, is_read = workload
    if callable(path):
        path = path(base)
    if callable(script):
        script = script()
    run_wrk(base, path, script, args.warmup, args.connections)
    sampler.active = is_read
    cpu_before, database_before = cpu_seconds(pid), database_cpu()
    runs = [run_wrk(base, path, script, args.duration, args.connections) for _ in range(args.runs)]
    cpu, database_after = cpu_seconds(pid) - cpu_before, database_cpu()
    sampler.active = False
    median = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
    errors = sum(r["errors"] for r in runs)
    requests = max(sum(r["requests"] for r in runs), 1)
    result = {"name": name, "path": path, **median, "errors": errors, "cpu_ms_per_request": cpu * 1000 / requests}
    for key, seconds in database_after.items():
        result[f"{key}_cpu_ms_per_request"] = (seconds - database_before[key]) * 1000 / requests
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("backend", choices=["sqlite", "postgres"])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--sizes", default=str(SEEDED_ARTICLES),
                        help="article counts, ascending, comma-separated: every workload runs at the first, "
                             "the list workloads again at each further one")
    parser.add_argument("--replica", action="store_true",
                        help="PostgreSQL only: start a throwaway primary and streaming replica (ignores --pg-url)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--only", default=os.environ.get("BENCH_ONLY", ""),
                        help="comma-separated words; run only the workloads whose name contains one "
                             "(the ceiling always runs)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is needed (apt-get install wrk)")
    sizes = parse_sizes(args.sizes)
    if args.replica and args.backend != "postgres":
        sys.exit("bench: --replica is for PostgreSQL only")

    folder = tempfile.mkdtemp(prefix="conduit-bench-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"CONDUIT_LISTEN": f"127.0.0.1:{port}", "CONDUIT_LOG_LEVEL": "warn", "CONDUIT_SECRET": SECRET,
           "CONDUIT_LIMITS__LOGIN_FAILURES_PER_ADDRESS": "1000000"}
    # Other server settings to compare (e.g. CONDUIT_POOL_SIZE=2) pass through.
    env.update({k: v for k, v in os.environ.items()
                if k.startswith("CONDUIT_") and k not in env
                and k not in ("CONDUIT_DATABASE_URL", "CONDUIT_DATABASE_READ_URL")})
    # The databases' CPU per request: ("key", column) for each, and their CPU seconds.
    database_columns = []
    database_cpu = lambda: {"pg": postgres_cpu_seconds()}  # noqa: E731
    database = cluster = server = pg_url = None
    sampler = RssSampler(None)
    results, articles_at, peaks = [], {}, {}
    try:
        if args.backend == "sqlite":
            env["CONDUIT_DATABASE_URL"] = f"sqlite://{folder}/conduit.db"
        else:
            if args.replica:
                cluster = ReplicatedCluster()
                cluster.start()
                pg_url, database = cluster.primary_url, "conduit_bench"
                env["CONDUIT_DATABASE_READ_URL"] = f"{cluster.replica_url}/{database}?sslmode=disable"
                postmasters = cluster.postmasters()
                database_cpu = lambda: cluster_cpu_seconds(postmasters)  # noqa: E731
                database_columns = [("primary", "primary CPU ms/req"), ("replica", "replica CPU ms/req")]
            else:
                pg_url, database = args.pg_url, f"conduit_bench_{os.getpid()}"
                database_columns = [("pg", "PostgreSQL CPU ms/req")]
            psql(pg_url + "/postgres", f"CREATE DATABASE {database}")
            env["CONDUIT_DATABASE_URL"] = f"{pg_url}/{database}?sslmode=disable"
            subprocess.run([args.binary, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
            if cluster:
                cluster.wait_replayed()  # the server reads the replica from the start

        def settle():
            if database:
                # The state autovacuum reaches within a minute of a bulk load:
                # statistics, and visibility maps for index-only scans.
                psql(f"{pg_url}/{database}", "VACUUM ANALYZE")
            if cluster:
                cluster.wait_replayed()

        server = subprocess.Popen([args.binary, "serve"], env=env)
        wait_ready(base)
        seed_file = os.path.join(folder, "seed.json")
        subprocess.run([sys.executable, os.path.join(HERE, "seed.py"), base, "--out", seed_file], check=True)
        if sizes[0] > SEEDED_ARTICLES:
            grow(base, seed_file, sizes[0])
        settle()
        with open(seed_file) as f:
            seed = json.load(f)
        sampler = RssSampler(server.pid)
        sampler.start()
        only = [word for word in args.only.split(",") if word]
        bodies = {encoding: body_bytes(base, "/api/articles?limit=20", encoding)
                  for _, encoding in WIRE if encoding}
        every = workloads(seed, folder, base)
        for step, size in enumerate(sizes):
            if step:
                # Without the "create article" workload's articles, then grown.
                grow(base, seed_file, size, drop_tag="bench")
                settle()
            articles_at[size] = articles_count(base)
            sampler.peak = 0
            for index, workload in enumerate(every):
                name = workload[0]
                if step and name not in LIST:
                    continue
                if index and only and not any(word in name for word in only):
                    continue
                result = measure(base, server.pid, workload, args, sampler, database_cpu)
                results.append({**result, "size": size, "articles": articles_at[size]})
                at = f" at {size}" if len(sizes) > 1 else ""
                print(f"bench: {name}{at}: {result['rps']:.0f} req/s, {result['errors']} errors", file=sys.stderr)
            peaks[size] = sampler.peak
        sampler.stopped = True
    except subprocess.CalledProcessError as error:
        sys.exit(f"bench: {' '.join(map(str, error.cmd))} failed (exit {error.returncode})")
    finally:
        sampler.stopped = True
        if server:
            server.terminate()
            server.wait()
        if database and not cluster:
            psql(args.pg_url + "/postgres", f"DROP DATABASE IF EXISTS {database}")
        if cluster:
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)

    first = [r for r in results if r["size"] == sizes[0]]
    ceiling = first[0]["rps"]
    setup = f"{args.backend}, primary + streaming replica" if cluster else args.backend
    at = f"; {articles_at[sizes[0]]} articles" if sizes != [SEEDED_ARTICLES] else ""
    print(f"\n### {setup}: {args.runs} x {args.duration} s at {args.connections} connections, "
          f"median run; peak RSS during reads {peaks[sizes[0]] / 1024:.1f} MiB{at}\n")
    # On PostgreSQL, the database's own CPU per request too: both share the cores.
    print("| workload | req/s | % of ceiling | p50 ms | p99 ms | server CPU ms/req |"
          + "".join(f" {column} |" for _, column in database_columns) + " errors |")
    print("|---|---:|---:|---:|---:|---:|" + "---:|" * len(database_columns) + "---:|")
    failed = any(r["errors"] for r in results)
    for r in first:
        if r["errors"]:
            print(f"| {r['name']} | FAILED | | | | |" + " |" * len(database_columns) + f" {r['errors']} |")
            continue
        print(f"| {r['name']} | {r['rps']:.0f} | {100 * r['rps'] / ceiling:.1f} % | {r['p50']:.2f} | "
              f"{r['p99']:.2f} | {r['cpu_ms_per_request']:.3f} |"
              + "".join(f" {r[key + '_cpu_ms_per_request']:.3f} |" for key, _ in database_columns) + " 0 |")
    by_name = {r["name"]: r for r in first if not r["errors"]}
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
    login = next((r for r in first if r["name"] == "login" and not r["errors"]), None)
    if login:
        # Login is bound by password hashing: each costs this much CPU, and
        # only os.cpu_count() of them can run at once.
        limit = (os.cpu_count() or 1) * 1000 / login["cpu_ms_per_request"]
        print(f"\nlogin: {login['rps']:.1f} req/s; {login['cpu_ms_per_request']:.1f} ms of server CPU per login "
              f"on {os.cpu_count()} cores bounds it at {limit:.1f} req/s ({100 * login['rps'] / limit:.0f} % of that)")
    print_search(setup, sizes, results)
    if len(sizes) > 1:
        print_growth(setup, sizes, articles_at, peaks, results, database_columns)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"backend": args.backend, "replica": bool(cluster), "sizes": sizes,
                       "articles_at_size": {str(s): n for s, n in articles_at.items()},
                       "peak_rss_mib": peaks[sizes[0]] / 1024,
                       "peak_rss_mib_at_size": {str(s): kib / 1024 for s, kib in peaks.items()},
                       "results": results}, f)
    sys.exit(1 if failed else 0)


def print_search(setup, sizes, results):
    """Each search and the Atom feed beside the plain list, at each size."""
    at = {(r["name"], r["size"]): r for r in results if not r["errors"]}
    rows = [(name, size) for size in sizes for name in SEARCH + ["Atom feed", "Atom feed, If-None-Match"]
            if (name, size) in at and ("list articles", size) in at]
    if not rows:
        return
    print(f"\n### {setup}: search and the Atom feed beside the list of 20\n")
    print("| articles | workload | req/s | share of the list's req/s | p50 ms | p99 ms | server CPU ms/req |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for name, size in rows:
        r, plain = at[(name, size)], at[("list articles", size)]
        revalidated = f" ({100 * r['not_modified']:.0f} % 304)" if r.get("not_modified") is not None else ""
        print(f"| {r['articles']} | {name}{revalidated} | {r['rps']:.0f} | {100 * r['rps'] / plain['rps']:.0f} % | "
              f"{r['p50']:.2f} | {r['p99']:.2f} | {r['cpu_ms_per_request']:.3f} |")


def print_growth(setup, sizes, articles_at, peaks, results, database_columns):
    """One table: each list workload at each size, side by side."""
    at = {(r["name"], r["size"]): r for r in results}
    names = [name for name in LIST if any((name, size) in at for size in sizes)]
    if not names:
        return
    counts = ", ".join(str(articles_at[s]) for s in sizes)
    rss = ", ".join(f"{peaks[s] / 1024:.1f}" for s in sizes)
    print(f"\n### {setup}: the list workloads as the data grows, {' to '.join(map(str, sizes))} articles "
          f"(articlesCount {counts}); peak RSS during reads {rss} MiB\n")
    kept = ["share kept"] if len(sizes) == 2 else [f"share kept at {s}" for s in sizes[1:]]
    header = ([f"req/s at {s}" for s in sizes] + kept + [f"server CPU ms/req at {s}" for s in sizes]
              + [f"{column} at {s}" for _, column in database_columns for s in sizes]
              + [f"p99 ms at {s}" for s in sizes])
    print("| workload | " + " | ".join(header) + " |")
    print("|---|" + "---:|" * len(header))

    def ok(name, size):
        r = at.get((name, size))
        return r if r and not r["errors"] else None

    for name in names:
        cells = []
        for s in sizes:
            r = at.get((name, s))
            cells.append("" if r is None else f"FAILED ({r['errors']} errors)" if r["errors"] else f"{r['rps']:.0f}")
        for s in sizes[1:]:
            now, then = ok(name, s), ok(name, sizes[0])
            cells.append(f"{100 * now['rps'] / then['rps']:.1f} %" if now and then else "")
        for key in ["cpu_ms_per_request"] + [k + "_cpu_ms_per_request" for k, _ in database_columns]:
            cells += [f"{ok(name, s)[key]:.3f}" if ok(name, s) else "" for s in sizes]
        cells += [f"{ok(name, s)['p99']:.2f}" if ok(name, s) else "" for s in sizes]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
