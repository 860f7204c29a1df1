#!/usr/bin/env python3
"""Seeds a running Conduit server through its API with a deterministic data set.

50 users, 1,000 articles over 20 tags, 250 follows, 1,000 favorites and 2,000
comments (the sizes the benchmark targets are stated for). The same seed gives
the same data on every backend. Writes the users and their tokens as JSON to
the file named by --out, for the workloads that need a token.

With --grow-to N, seeds nothing: reads the users and tokens from the --out
file of an earlier run and adds articles through the API until the server's
global articlesCount is N. Article i (counting from 0 over all articles) gets
its content from an RNG seeded with i: a unique title, 1 to 4 of the same 20
tags, a random one of the 50 users as author; the order of creation is not
deterministic (--workers threads, each with one keep-alive connection).
--drop-tag TAG first deletes every article with that tag through the API (the
benchmark's "create article" workload tags its articles "bench").

Usage: bench/seed.py http://127.0.0.1:8080 --out tokens.json
       bench/seed.py http://127.0.0.1:8080 --out tokens.json --grow-to 100000 [--drop-tag bench]
Standard library only.
"""

import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

USERS, ARTICLES, TAGS, FOLLOWS, FAVORITES, COMMENTS = 50, 1000, 20, 250, 1000, 2000


def call(base, method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Token " + token)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        sys.exit(f"seed: {method} {path} answered {error.code}: {error.read()[:200]!r}")


class Client:
    """One keep-alive HTTP connection per thread."""

    def __init__(self, base):
        url = urllib.parse.urlsplit(base)
        self.host, self.port, self.prefix = url.hostname, url.port or 80, url.path.rstrip("/")
        self.local = threading.local()

    def call(self, method, path, body=None, token=None, also=()):
        """The answer's JSON; any status but 2xx and `also` is an error."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Token " + token
        for attempt in range(2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                conn.request(method, self.prefix + path, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except (http.client.HTTPException, ConnectionError):
                # The server closed an idle connection: once more on a new one.
                conn.close()
                self.local.conn = None
                if attempt:
                    raise
                continue
            if not (200 <= response.status < 300 or response.status in also):
                raise RuntimeError(f"{method} {path} answered {response.status}: {raw[:200]!r}")
            return json.loads(raw) if raw and response.status < 300 else None


def parallel(workers, items, work):
    """Calls work(item) for each item on `workers` threads; stops at the first error."""
    items, lock, errors = iter(items), threading.Lock(), []

    def loop():
        while not errors:
            with lock:
                item = next(items, None)
            if item is None:
                return
            try:
                work(item)
            except Exception as error:  # reported below, stops the others
                errors.append(error)

    threads = [threading.Thread(target=loop) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit(f"seed: {errors[0]}")


def articles_count(client, query=""):
    return client.call("GET", "/articles?limit=1" + query)["articlesCount"]


def grown_article(i, names, tags):
    """Article i beyond the seed: the same content for the same i on every run."""
    rng = random.Random(f"conduit-bench-article-{i}")
    author = rng.randrange(len(names))
    chosen = rng.sample(tags, rng.randint(1, 4))
    return author, {"article": {
        "title": f"Article {i:06d} about {chosen[0]}",
        "description": f"Description of article {i}",
        "body": " ".join(rng.choice(["lorem", "ipsum", "dolor", "sit", "amet"]) for _ in range(120)),
        "tagList": chosen}}


def drop_tag(client, tag, names, tokens, workers):
    """Deletes every article tagged `tag`, each with its author's token."""
    token_of = dict(zip(names, tokens))
    dropped, progress = set(), time.monotonic()
    while True:
        page = client.call("GET", f"/articles?tag={urllib.parse.quote(tag)}&limit=100")["articles"]
        if not page:
            break
        slugs = [a for a in page if a["slug"] not in dropped]
        if not slugs:
            # Reads from a replica that has not replayed the deletes yet.
            if time.monotonic() - progress > 120:
                sys.exit(f"seed: articles tagged {tag} still listed 120 s after their deletion")
            time.sleep(0.1)
            continue
        progress = time.monotonic()
        # 404: gone already (a retried request, or a lagging read).
        parallel(workers, slugs, lambda a: client.call(
            "DELETE", f"/articles/{a['slug']}", token=token_of[a["author"]["username"]], also=(404,)))
        before = len(dropped)
        dropped.update(a["slug"] for a in slugs)
        if len(dropped) // 10000 > before // 10000:
            print(f"seed: deleted {len(dropped)} articles tagged {tag}", file=sys.stderr)
    if dropped:
        print(f"seed: deleted {len(dropped)} articles tagged {tag}", file=sys.stderr)


def grow(args):
    client = Client(args.base.rstrip("/") + "/api")
    with open(args.out) as f:
        seeded = json.load(f)
    names, tokens, tags = seeded["users"], seeded["tokens"], seeded["tags"]
    if args.drop_tag:
        drop_tag(client, args.drop_tag, names, tokens, args.workers)
    lock, done = threading.Lock(), [0]

    def create(i):
        author, body = grown_article(i, names, tags)
        client.call("POST", "/articles", body, tokens[author])
        with lock:
            done[0] += 1
            if done[0] % 10000 == 0:
                print(f"seed: created {done[0]} of {args.grow_to - first} articles", file=sys.stderr)

    # The global count, so articles made otherwise count as well.
    count = first = articles_count(client)
    while count < args.grow_to:
        parallel(args.workers, range(first + done[0], first + done[0] + args.grow_to - count), create)
        # Reads may come from a replica: give it time to replay the creates.
        deadline = time.monotonic() + 60
        while (count := articles_count(client)) < args.grow_to and time.monotonic() < deadline:
            time.sleep(0.2)
    print(f"seed: grew to {count} articles ({done[0]} created)", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base", help="server URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--out", required=True,
                        help="where to write users and tokens (with --grow-to: where to read them)")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--grow-to", type=int, help="add articles until the server holds this many")
    parser.add_argument("--drop-tag", help="with --grow-to: first delete the articles with this tag")
    args = parser.parse_args()
    if args.grow_to is not None:
        return grow(args)
    base = args.base.rstrip("/") + "/api"
    rng = random.Random(20261126)
    pool = ThreadPoolExecutor(max_workers=args.workers)

    names = [f"user{i:02d}" for i in range(USERS)]
    users = list(pool.map(lambda n: call(base, "POST", "/users", {"user": {
        "username": n, "email": f"{n}@example.com", "password": f"password-{n}"}})["user"], names))
    tokens = [u["token"] for u in users]

    tags = [f"tag{i:02d}" for i in range(TAGS)]
    plan = []
    for i in range(ARTICLES):
        author = rng.randrange(USERS)
        chosen = rng.sample(tags, rng.randint(1, 4))
        plan.append((author, {"article": {
            "title": f"Article {i:04d} about {chosen[0]}",
            "description": f"Description of article {i}",
            "body": " ".join(rng.choice(["lorem", "ipsum", "dolor", "sit", "amet"]) for _ in range(120)),
            "tagList": chosen}}))
    # Articles in order, so ids (and "newest first") are the same on every run.
    slugs = [call(base, "POST", "/articles", body, tokens[author])["article"]["slug"]
             for author, body in plan]

    follows = set()
    while len(follows) < FOLLOWS:
        a, b = rng.randrange(USERS), rng.randrange(USERS)
        if a != b:
            follows.add((a, b))
    list(pool.map(lambda p: call(base, "POST", f"/profiles/{names[p[1]]}/follow", {}, tokens[p[0]]),
                  sorted(follows)))

    favorites = set()
    while len(favorites) < FAVORITES:
        favorites.add((rng.randrange(USERS), rng.randrange(ARTICLES)))
    list(pool.map(lambda f: call(base, "POST", f"/articles/{slugs[f[1]]}/favorite", {}, tokens[f[0]]),
                  sorted(favorites)))

    comments = [(rng.randrange(USERS), rng.randrange(ARTICLES), i) for i in range(COMMENTS)]
    list(pool.map(lambda c: call(base, "POST", f"/articles/{slugs[c[1]]}/comments",
                                 {"comment": {"body": f"Comment {c[2]} on this article."}}, tokens[c[0]]),
                  comments))

    # The article with the most comments, for the comments workload.
    per_article = {}
    for _, article, _ in comments:
        per_article[article] = per_article.get(article, 0) + 1
    busiest = max(per_article, key=lambda a: (per_article[a], -a))
    with open(args.out, "w") as out:
        json.dump({"users": names, "tokens": tokens, "slugs": slugs,
                   "busiest_slug": slugs[busiest], "tags": tags}, out)
    print(f"seeded {USERS} users, {ARTICLES} articles, {len(follows)} follows, "
          f"{len(favorites)} favorites, {COMMENTS} comments", file=sys.stderr)


if __name__ == "__main__":
    main()
