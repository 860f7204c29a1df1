#!/usr/bin/env python3
"""Waits for a just-started server, for .ci/check_image.sh:

    python3 .ci/wait_ready.py URL STARTED_NS

polls URL/healthz until it answers 200 and prints the milliseconds since
STARTED_NS (`date +%s%N` taken just before the exec); fails after 10 s.
The poller's own start-up (tens of ms) counts too, so this is an upper
bound; bench/startup.py measures the binary alone.
"""

import sys
import time
import urllib.request


def main(url, started_ns):
    started = int(started_ns) / 1e9
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            if time.time() - started > 10:
                sys.exit("no answer within 10 s")
            time.sleep(0.001)
    print(f"{(time.time() - started) * 1000:.0f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
