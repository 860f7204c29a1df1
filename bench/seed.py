#!/usr/bin/env python3
"""Seeds a running Conduit server through its API with a deterministic data set.

50 users, 1,000 articles over 20 tags, 250 follows, 1,000 favorites and 2,000
comments (the sizes the benchmark targets are stated for). The same seed gives
the same data on every backend. Writes the users and their tokens as JSON to
the file named by --out, for the workloads that need a token.

Usage: bench/seed.py http://127.0.0.1:8080 --out tokens.json
Standard library only.
"""

import argparse
import json
import random
import sys
import urllib.error
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base", help="server URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--out", required=True, help="where to write users and tokens")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
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
