#!/usr/bin/env python3
"""First (uncached) validation latency of fresh credentials, for scripts/bench.

Creates N service tokens through the admin API, then validates each exactly once with
`POST /credentials/validate` over one keep-alive connection, timing every request (so each one
misses the verdict cache and reads the database). Also times N validations of tokens with a
wrong checksum. Prints one JSON object: {"n", "first_check": {p50_ms, p99_ms, max_ms},
"bad_checksum": {...}, "statuses": {...}}.

usage: credential_first_check.py PUBLIC_URL ADMIN_URL [N]
"""

import http.client
import json
import statistics
import sys
import time
import urllib.parse


def conn(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=10)


def post(c, path, body):
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    return r.status, r.read()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def summary(xs):
    return {
        "p50_ms": round(statistics.median(xs), 3),
        "p99_ms": round(pct(xs, 99), 3),
        "max_ms": round(max(xs), 3),
    }


def main():
    public, admin = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    a = conn(admin)
    tokens = []
    for i in range(n):
        status, body = post(a, "/admin/credentials", {
            "kind": "service_token", "owner": "bench", "name": f"bench-{i}",
            "scopes": ["read:*"], "expires_in": "1d",
        })
        if status != 201:
            sys.exit(f"POST /admin/credentials -> {status}: {body[:200]!r}")
        tokens.append(json.loads(body)["token"])
    p = conn(public)
    # One warm-up request on the connection (not counted).
    post(p, "/credentials/validate", {"token": tokens[0], "required_scope": "read:x"})
    statuses = {}
    first = []
    for t in tokens[1:]:
        t0 = time.perf_counter()
        status, _ = post(p, "/credentials/validate", {"token": t, "required_scope": "read:x"})
        first.append((time.perf_counter() - t0) * 1000)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    bad = []
    for t in tokens[1:]:
        typo = t[:10] + ("b" if t[10] == "a" else "a") + t[11:]
        t0 = time.perf_counter()
        status, _ = post(p, "/credentials/validate", {"token": typo})
        bad.append((time.perf_counter() - t0) * 1000)
        statuses["typo:" + str(status)] = statuses.get("typo:" + str(status), 0) + 1
    print(json.dumps({"n": len(first), "first_check": summary(first),
                      "bad_checksum": summary(bad), "statuses": statuses}))


if __name__ == "__main__":
    main()
