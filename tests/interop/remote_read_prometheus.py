#!/usr/bin/env python3
"""A Prometheus whose only data is Pitot's, through `remote_read`, answers a query as
Pitot does: the same series and the same samples, value strings identical.

Python 3 standard library only. Usage:
    remote_read_prometheus.py --reader URL --pitot URL --token T --start MS --end MS

`--reader` is a Prometheus with an empty local TSDB, no scrape targets and
`remote_read` (read_recent: true) pointed at Pitot. Both are asked the instant query
of the range selector {__name__=~".+"}[<end-start>ms] at `end`, which returns every
raw sample in [start, end] except staleness markers (PromQL hides them; the remote
read comparison in compare.py covers those).
"""

import argparse
import json
import sys
import urllib.parse
import urllib.request


def query(base, expr, at, token=None):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr, "time": f"{at / 1000:.3f}"})
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=120) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise SystemExit(f"FAIL: {base}: {body}")
    out = {}
    for s in body["data"]["result"]:
        key = tuple(sorted(s["metric"].items()))
        out[key] = [(round(float(t) * 1000), v) for t, v in s["values"]]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reader", required=True)
    ap.add_argument("--pitot", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--start", type=int, required=True)
    ap.add_argument("--end", type=int, required=True)
    ap.add_argument("--min-series", type=int, default=50)
    args = ap.parse_args()
    expr = '{__name__=~".+"}[%dms]' % (args.end - args.start)
    through_prometheus = query(args.reader.rstrip("/"), expr, args.end)
    direct = query(args.pitot.rstrip("/"), expr, args.end, args.token)
    problems = []
    for key in sorted(set(through_prometheus) | set(direct)):
        a, b = through_prometheus.get(key), direct.get(key)
        if a != b:
            first = next(((x, y) for x, y in zip(a or [], b or []) if x != y), None)
            problems.append(f"{dict(key)}: through Prometheus {len(a or [])} samples, Pitot {len(b or [])}; first difference {first}")
    samples = sum(len(v) for v in direct.values())
    print(f"remote_read through Prometheus: {len(through_prometheus)} series; Pitot directly: {len(direct)} series, {samples} samples; {len(problems)} series differ")
    for p in problems[:10]:
        print("  " + p)
    if len(direct) < args.min_series:
        problems.append(f"only {len(direct)} series compared (need {args.min_series})")
        print("FAIL: " + problems[-1])
    print("RESULT: " + ("FAIL" if problems else "PASS"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
