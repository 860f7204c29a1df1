#!/usr/bin/env python3
"""Time from exec to the first answered request, on an empty SQLite database.

Usage: bench/startup.py [BINARY] [RUNS]   (default target/release/conduit, 5)
Each run starts the binary in a fresh temporary folder (so it creates and
migrates the database), polls GET /api/tags until it answers 200, and stops it.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time

binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/conduit")
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


timings = []
for _ in range(runs):
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        server = subprocess.Popen([binary, "serve"], cwd=folder, stderr=subprocess.DEVNULL,
                                  env={"CONDUIT_LISTEN": f"127.0.0.1:{port}", "CONDUIT_LOG_LEVEL": "warn"})
        deadline = started + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"GET /api/tags HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                if time.perf_counter() > deadline:
                    sys.exit("startup: no answer within 10 s")
                time.sleep(0.0005)
        timings.append((time.perf_counter() - started) * 1000)
        server.terminate()
        server.wait()
print("first answer on an empty database (ms): " + ", ".join(f"{t:.1f}" for t in timings))
