#!/usr/bin/env python3
"""PromQL differential test: the same queries against Prometheus and Pitot.

Python 3.11 standard library only.

1. Sends every request body gen.py wrote (remote write v1, snappy) to both servers, in
   order, the same bytes to each; both must accept every request.
2. Checks both hold all of the data: Pitot's /api/v1/export must return every sample
   sent (staleness markers included, as NaN), Prometheus' {__name__=~".+"}[<span>]
   every sample that is not a staleness marker (the engine hides those).
3. Runs every query of queries.txt as instant queries at end, end - 17m, end - 43m and
   as a range query over [end - 1h, end] at step 60s, against both servers, and compares:
   same resultType, same series (label sets, __name__ included), same timestamps,
   values equal within 1e-6 relative or 1e-9 absolute, NaN == NaN, +-Inf alike.
   For queries flagged 'ties' a mismatch in series is accepted when the multiset of
   values per timestamp is the same (topk/bottomk among equal values); 'ordered'
   queries must also give the same order of values; 'error' queries must fail on both
   with the same errorType; a query that fails on both sides without the flag differs.
   The comparison checks itself on crafted cases first (self_test).
4. Prints a verdict per query and "N queries, M agree, K differ". Queries listed in
   known_differences.txt that differ are reported as known differences and do not fail
   the run; listed queries that now agree are reported so the list can shrink.

Exit status 0 only when no unlisted query differs, at least --min-queries queries were
compared, and no unflagged query was empty on both sides everywhere (vacuous).
"""

import argparse
import concurrent.futures
import json
import math
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

REL_TOL = 1e-6
ABS_TOL = 1e-9
FLAGS = {"instant", "empty", "ordered", "ties", "error"}
INSTANT_OFFSETS_MIN = (0, 17, 43)   # instant queries at end - these minutes
RANGE_MINUTES = 60
RANGE_STEP_S = 60


# ---------------------------------------------------------------------------- HTTP

class Server:
    def __init__(self, name, base, token=None):
        self.name, self.base, self.token = name, base.rstrip("/"), token

    def headers(self, extra=None):
        h = dict(extra or {})
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return h

    def request(self, path, params=None, data=None, headers=None, timeout=120):
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, data=data, headers=self.headers(headers),
                                     method="POST" if data is not None else "GET")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except (urllib.error.URLError, OSError) as e:  # refused, reset, timed out
            reason = getattr(e, "reason", e)
            return 0, json.dumps({"status": "error", "errorType": "connection",
                                  "error": f"{self.name} at {self.base}: {reason}"}).encode()

    def query(self, expr, time_s=None, start_s=None, end_s=None, step_s=None):
        """('ok', data) or ('error', errorType, message, http status)."""
        if time_s is not None:
            status, body = self.request("/api/v1/query", {"query": expr, "time": time_s})
        else:
            status, body = self.request("/api/v1/query_range",
                                        {"query": expr, "start": start_s, "end": end_s, "step": step_s})
        try:
            doc = json.loads(body)
        except ValueError:
            return ("error", "invalid-json", body[:300].decode("utf-8", "replace"), status)
        if status == 200 and doc.get("status") == "success":
            return ("ok", doc["data"])
        return ("error", doc.get("errorType", "?"), doc.get("error", ""), status)


def push(servers, data_dir, meta):
    headers = {
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "0.1.0",
    }
    t0 = time.time()
    total = 0
    for name in meta["batches"]:
        with open(os.path.join(data_dir, name), "rb") as f:
            body = f.read()
        total += len(body)
        for srv in servers:
            status, resp = srv.request("/api/v1/write", data=body, headers=headers)
            if status // 100 != 2:
                raise SystemExit(f"FAIL: {srv.name} refused {name}: HTTP {status}: {resp[:500].decode('utf-8', 'replace')}")
    print(f"pushed {len(meta['batches'])} requests ({total / 1e6:.1f} MB, {meta['series']} series, "
          f"{meta['samples']} samples) to both in {time.time() - t0:.1f}s")


def check_ingested(prom, pitot, meta):
    """Both servers must hold every sample; raises SystemExit otherwise."""
    end_s = meta["end_ms"] // 1000
    span_s = (meta["end_ms"] - meta["start_ms"]) // 1000 + 3600
    expected_visible = meta["samples"] - meta["stale_markers"]
    # A range selector over all series returns every raw sample (staleness markers are
    # hidden by the query engine); name-dropping functions would collide here.
    r = prom.query(f'{{__name__=~".+"}}[{span_s}s]', time_s=end_s)
    if r[0] != "ok":
        raise SystemExit(f"FAIL: cannot read Prometheus' samples: {r}")
    prom_series = len(r[1]["result"])
    got = sum(len(s["values"]) for s in r[1]["result"])
    if (prom_series, got) != (meta["series"], expected_visible):
        raise SystemExit(f"FAIL: Prometheus holds {prom_series} series and {got} samples, expected {meta['series']} "
                         f"and {expected_visible} (sent {meta['samples']} of which {meta['stale_markers']} staleness markers)")
    status, body = pitot.request("/api/v1/export", {
        "match[]": '{__name__=~".+"}',
        "start": meta["start_ms"] / 1000, "end": meta["end_ms"] / 1000})
    if status != 200:
        raise SystemExit(f"FAIL: Pitot export answered HTTP {status}: {body[:300]!r}")
    series = samples = 0
    for line in body.decode().splitlines():
        if line.strip():
            series += 1
            samples += len(json.loads(line)["values"])
    if (series, samples) != (meta["series"], meta["samples"]):
        raise SystemExit(f"FAIL: Pitot exported {series} series and {samples} samples, expected "
                         f"{meta['series']} and {meta['samples']}")
    print(f"ingested: Prometheus returns {prom_series} series / {got} samples (+{meta['stale_markers']} staleness markers), "
          f"Pitot exports {series} series / {samples} samples")


# ------------------------------------------------------------------ query list

def load_queries(path):
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            expr, _, flags = line.partition(" #!")
            flags = set(flags.split())
            if flags - FLAGS:
                raise SystemExit(f"{path}:{n}: unknown flags {sorted(flags - FLAGS)}")
            out.append((expr.strip(), flags))
    exprs = [q for q, _ in out]
    dups = {q for q in exprs if exprs.count(q) > 1}
    if dups:
        raise SystemExit(f"{path}: duplicate queries {sorted(dups)}")
    return out


def expand(expr, end_s):
    """Replaces <end> and <end-SECONDS> by Unix seconds (for '@ <timestamp>')."""
    def sub(m):
        return str(end_s - int(m.group(1) or 0))
    return re.sub(r"<end(?:-(\d+))?>", sub, expr)


def load_known(path):
    """{query: {'why': ..., 'right': ...}} from known_differences.txt."""
    known = {}
    if not path or not os.path.exists(path):
        return known
    cur = None
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition(":")
            key, value = key.strip().lower(), value.strip()
            if not sep or key not in ("query", "why", "right"):
                raise SystemExit(f"{path}:{n}: expected 'query:', 'why:' or 'right:' lines")
            if key == "query":
                cur = known.setdefault(value, {})
            elif cur is None:
                raise SystemExit(f"{path}:{n}: '{key}:' before any 'query:'")
            else:
                cur[key] = value
    return known


# ------------------------------------------------------------------ comparison

def num(v):
    return float(v)  # handles "NaN", "+Inf", "-Inf"


def close(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    d = abs(a - b)
    return d <= ABS_TOL or d <= REL_TOL * max(abs(a), abs(b))


def key_of(metric):
    return tuple(sorted(metric.items()))


def fmt_key(key):
    d = dict(key)
    name = d.pop("__name__", "")
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(d.items())) + "}"


def fmt_t(t):
    return f"{t:.3f}".rstrip("0").rstrip(".")


def fmt_point(t, v):
    return f"{v!r}@{fmt_t(t)}"


def normalize(data):
    """(resultType, {key: [(t, v)]} or value, [order of keys], problems)."""
    rt = data.get("resultType")
    res = data.get("result")
    problems = []
    if rt in ("vector", "matrix"):
        series, order = {}, []
        for s in res:
            key = key_of(s["metric"])
            if key in series:
                problems.append(f"series {fmt_key(key)} appears twice")
            pts = [s["value"]] if rt == "vector" else s["values"]
            series[key] = [(float(t), num(v)) for t, v in pts]
            order.append(key)
        return rt, series, order, problems
    if rt == "scalar":
        return rt, {(): [(float(res[0]), num(res[1]))]}, [()], problems
    if rt == "string":
        return rt, (float(res[0]), res[1]), [], problems
    return rt, res, [], [f"unknown resultType {rt!r}"]


def strict_diff(p, q, limit=6):
    """Differences between two {key: points} maps (p: Prometheus, q: Pitot)."""
    out = []
    for key in sorted(set(p) | set(q)):
        if key not in q:
            out.append(f"missing in Pitot: {fmt_key(key)} {[fmt_point(*x) for x in p[key][:3]]}")
        elif key not in p:
            out.append(f"extra in Pitot: {fmt_key(key)} {[fmt_point(*x) for x in q[key][:3]]}")
        else:
            pa, qa = dict(p[key]), dict(q[key])
            for t in sorted(set(pa) | set(qa)):
                if t not in qa:
                    out.append(f"{fmt_key(key)} at {fmt_t(t)}: Pitot has no point, Prometheus {pa[t]!r}")
                elif t not in pa:
                    out.append(f"{fmt_key(key)} at {fmt_t(t)}: Pitot {qa[t]!r}, Prometheus has no point")
                elif not close(pa[t], qa[t]):
                    out.append(f"{fmt_key(key)} at {fmt_t(t)}: Prometheus {pa[t]!r}, Pitot {qa[t]!r}")
                if len(out) >= limit:
                    return out
        if len(out) >= limit:
            break
    return out


def values_per_ts(series):
    by_t = {}
    for pts in series.values():
        for t, v in pts:
            by_t.setdefault(t, []).append(v)
    return {t: sorted(vs, key=lambda x: (math.isnan(x), x)) for t, vs in by_t.items()}


def multiset_diff(p, q, limit=6):
    pv, qv = values_per_ts(p), values_per_ts(q)
    out = []
    for t in sorted(set(pv) | set(qv)):
        a, b = pv.get(t, []), qv.get(t, [])
        if len(a) != len(b) or not all(close(x, y) for x, y in zip(a, b)):
            out.append(f"values at {fmt_t(t)}: Prometheus {a[:8]}, Pitot {b[:8]}")
            if len(out) >= limit:
                break
    return out


def without_name(series):
    out = {}
    for key, pts in series.items():
        out.setdefault(tuple(kv for kv in key if kv[0] != "__name__"), []).append(pts)
    return out


def compare_one(flags, rp, rq):
    """(verdict, [details]) for one evaluation; verdict in agree|ties|differ."""
    if "error" in flags or rp[0] == "error" or rq[0] == "error":
        if rp[0] == "error" and rq[0] == "error":
            if "error" not in flags:
                return "differ", [f"both failed, but the query is not flagged 'error': Prometheus {rp[1]} ({rp[2]}), "
                                  f"Pitot {rq[1]} ({rq[2]})"]
            if rp[1] == rq[1]:
                return "agree", []
            return "differ", [f"both failed, errorType Prometheus {rp[1]!r} ({rp[2]}), Pitot {rq[1]!r} ({rq[2]})"]
        if rp[0] == "error":
            return "differ", [f"Prometheus failed ({rp[1]}: {rp[2]}) but Pitot answered"]
        if rq[0] == "error":
            return "differ", [f"Pitot failed (HTTP {rq[3]} {rq[1]}: {rq[2]}) but Prometheus answered"]
        return "differ", ["expected both to fail, both answered"]
    tp, sp, op, probp = normalize(rp[1])
    tq, sq, oq, probq = normalize(rq[1])
    details = [f"Prometheus: {x}" for x in probp] + [f"Pitot: {x}" for x in probq]
    if tp != tq:
        return "differ", details + [f"resultType Prometheus {tp!r}, Pitot {tq!r}"]
    if tp == "string":
        if sp[0] != sq[0] or sp[1] != sq[1]:
            return "differ", details + [f"string Prometheus {sp!r}, Pitot {sq!r}"]
        return ("differ", details) if details else ("agree", [])
    if details:
        return "differ", details
    d = strict_diff(sp, sq)
    verdict = "agree"
    if d and "ties" in flags:
        md = multiset_diff(sp, sq)
        if not md:
            verdict, d = "ties", []
        else:
            d = md + d[:3]
    if d:
        if set(sp) != set(sq):
            np_, nq = without_name(sp), without_name(sq)
            if set(np_) == set(nq) and all(len(v) == 1 for v in np_.values()) and all(len(v) == 1 for v in nq.values()):
                d.insert(0, "series differ only in __name__")
        return "differ", d
    if "ordered" in flags and tp == "vector":
        pv = [sp[k][0][1] for k in op]
        qv = [sq[k][0][1] for k in oq]
        if not all(close(a, b) for a, b in zip(pv, qv)):
            return "differ", [f"order of values differs: Prometheus {pv[:10]}, Pitot {qv[:10]}"]
    return verdict, []


def count_points(r):
    """Points (samples of vectors and matrices, scalars, strings) in a successful answer."""
    if r[0] != "ok":
        return 0
    rt, res = r[1].get("resultType"), r[1].get("result")
    if rt == "vector":
        return len(res)
    if rt == "matrix":
        return sum(len(s["values"]) for s in res)
    return 1


def is_empty(r):
    if r[0] != "ok":
        return False
    rt = r[1].get("resultType")
    return rt in ("vector", "matrix") and not r[1]["result"]


def self_test():
    """The comparison itself must tell apart what it should; run before every test."""
    def vec(*items):
        return ("ok", {"resultType": "vector", "result": [
            {"metric": m, "value": [t, v]} for m, t, v in items]})

    def mat(*items):
        return ("ok", {"resultType": "matrix", "result": [
            {"metric": m, "values": pts} for m, pts in items]})

    a, b, c = {"__name__": "x", "i": "a"}, {"__name__": "x", "i": "b"}, {"__name__": "x", "i": "c"}
    err = ("error", "execution", "boom", 422)
    cases = [
        ("same", set(), vec((a, 10, "1"), (b, 10, "2")), vec((b, 10, "2"), (a, 10, "1")), "agree"),
        ("tiny relative error", set(), vec((a, 10, "1e6")), vec((a, 10, "1000000.0001")), "agree"),
        ("tiny absolute error near 0", set(), vec((a, 10, "1e-12")), vec((a, 10, "-1e-12")), "agree"),
        ("value", set(), vec((a, 10, "1")), vec((a, 10, "1.001")), "differ"),
        ("NaN vs number", set(), vec((a, 10, "NaN")), vec((a, 10, "0")), "differ"),
        ("NaN vs NaN", set(), vec((a, 10, "NaN")), vec((a, 10, "NaN")), "agree"),
        ("+Inf vs -Inf", set(), vec((a, 10, "+Inf")), vec((a, 10, "-Inf")), "differ"),
        ("+Inf vs large", set(), vec((a, 10, "+Inf")), vec((a, 10, "1e308")), "differ"),
        ("missing series", set(), vec((a, 10, "1"), (b, 10, "2")), vec((a, 10, "1")), "differ"),
        ("extra series", set(), vec((a, 10, "1")), vec((a, 10, "1"), (b, 10, "2")), "differ"),
        ("only __name__", set(), vec((a, 10, "1")), vec(({"i": "a"}, 10, "1")), "differ"),
        ("timestamp", set(), vec((a, 10, "1")), vec((a, 11, "1")), "differ"),
        ("resultType", set(), vec((a, 10, "1")), mat((a, [[10, "1"]])), "differ"),
        ("matrix point missing", set(), mat((a, [[10, "1"], [70, "2"]])), mat((a, [[10, "1"]])), "differ"),
        ("matrix same", set(), mat((a, [[10, "1"], [70, "2"]])), mat((a, [[10, "1"], [70, "2"]])), "agree"),
        ("duplicate series", set(), vec((a, 10, "1")), vec((a, 10, "1"), (a, 10, "1")), "differ"),
        ("ties flagged", {"ties"}, vec((a, 10, "5"), (b, 10, "7")), vec((c, 10, "5"), (b, 10, "7")), "ties"),
        ("ties not flagged", set(), vec((a, 10, "5")), vec((c, 10, "5")), "differ"),
        ("ties but other value", {"ties"}, vec((a, 10, "5")), vec((c, 10, "6")), "differ"),
        ("order", {"ordered"}, vec((a, 10, "1"), (b, 10, "2")), vec((b, 10, "2"), (a, 10, "1")), "differ"),
        ("order with equal values", {"ordered"}, vec((a, 10, "1"), (b, 10, "1")), vec((b, 10, "1"), (a, 10, "1")), "agree"),
        ("error vs answer", set(), err, vec(), "differ"),
        ("answer vs error", set(), vec(), err, "differ"),
        ("same error", {"error"}, err, err, "agree"),
        ("same error, not flagged", set(), err, err, "differ"),
        ("other errorType", {"error"}, err, ("error", "bad_data", "x", 400), "differ"),
        ("expected error, both answer", {"error"}, vec(), vec(), "differ"),
        ("scalar", set(), ("ok", {"resultType": "scalar", "result": [10, "1"]}),
         ("ok", {"resultType": "scalar", "result": [10, "2"]}), "differ"),
        ("string", set(), ("ok", {"resultType": "string", "result": [10, "a"]}),
         ("ok", {"resultType": "string", "result": [10, "b"]}), "differ"),
    ]
    bad = []
    for name, flags, rp, rq, want in cases:
        got, _ = compare_one(flags, rp, rq)
        if got != want:
            bad.append(f"{name}: expected {want}, got {got}")
    if bad:
        raise SystemExit("FAIL: comparison self-test: " + "; ".join(bad))
    print(f"comparison self-test: {len(cases)} cases pass")


# ---------------------------------------------------------------------- main

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prometheus", required=True, help="Prometheus base URL")
    ap.add_argument("--pitot", required=True, help="Pitot base URL")
    ap.add_argument("--token", required=True, help="Pitot token (metrics:write and metrics:read)")
    ap.add_argument("--data", required=True, help="directory written by gen.py")
    ap.add_argument("--queries", default=os.path.join(here, "queries.txt"))
    ap.add_argument("--known", default=os.path.join(here, "known_differences.txt"))
    ap.add_argument("--min-queries", type=int, default=50)
    ap.add_argument("--details", type=int, default=10, help="how many differing queries to detail")
    ap.add_argument("--jobs", type=int, default=8, help="concurrent queries")
    ap.add_argument("--no-push", action="store_true", help="the data is already in both servers")
    ap.add_argument("--only", help="run only queries containing this text")
    args = ap.parse_args()

    self_test()
    with open(os.path.join(args.data, "meta.json")) as f:
        meta = json.load(f)
    prom = Server("Prometheus", args.prometheus)
    pitot = Server("Pitot", args.pitot, args.token)
    if not args.no_push:
        push([prom, pitot], args.data, meta)
    check_ingested(prom, pitot, meta)

    queries = load_queries(args.queries)
    if args.only:
        queries = [q for q in queries if args.only in q[0]]
    known = load_known(args.known)
    unknown_listed = sorted(set(known) - {q for q, _ in queries})

    end_s = meta["end_ms"] // 1000
    assert end_s % 60 == 0
    queries = [(expand(q, end_s), q, flags) for q, flags in queries]
    evals = [("instant", f"t={end_s - m * 60}", {"time_s": end_s - m * 60}) for m in INSTANT_OFFSETS_MIN]
    evals.append(("range", f"[{end_s - RANGE_MINUTES * 60}, {end_s}] step {RANGE_STEP_S}s",
                  {"start_s": end_s - RANGE_MINUTES * 60, "end_s": end_s, "step_s": RANGE_STEP_S}))
    print(f"queries: {len(queries)} from {args.queries}; evaluations per query: "
          f"instant at end - {', '.join(str(m) for m in INSTANT_OFFSETS_MIN)} min (end = {end_s}), "
          f"range over the last {RANGE_MINUTES} min at step {RANGE_STEP_S}s")

    tasks = {}
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for qi, (expr, _, flags) in enumerate(queries):
            for ei, (kind, _, kw) in enumerate(evals):
                if kind == "range" and "instant" in flags:
                    continue
                for srv in (prom, pitot):
                    tasks[(qi, ei, srv.name)] = pool.submit(srv.query, expr, **kw)
        results = {k: f.result() for k, f in tasks.items()}
    elapsed = time.time() - t0

    agree = differ = known_diff = total_points = 0
    listed_agree, failures, vacuous, details = [], [], [], []
    for qi, (_, expr, flags) in enumerate(queries):
        verdicts, qdetails, empties, n_evals, points = [], [], 0, 0, 0
        for ei, (kind, label, _) in enumerate(evals):
            if (qi, ei, "Prometheus") not in results:
                continue
            n_evals += 1
            rp, rq = results[(qi, ei, "Prometheus")], results[(qi, ei, "Pitot")]
            v, d = compare_one(flags, rp, rq)
            verdicts.append(v)
            if is_empty(rp) and is_empty(rq):
                empties += 1
            points += count_points(rp)
            if d:
                qdetails.append(f"{kind} {label}:")
                qdetails.extend("    " + x for x in d)
        differs = "differ" in verdicts
        note = ""
        if "ties" in verdicts and not differs:
            note = " (same values; different series chosen among ties)"
        if not differs and empties == n_evals and "empty" not in flags and "error" not in flags:
            vacuous.append(expr)
            note += " (VACUOUS: empty on both sides at every evaluation)"
        if differs and expr in known:
            known_diff += 1
            status = "KNOWN DIFFERENCE"
            details.append((expr, qdetails, True))
        elif differs:
            differ += 1
            status = "DIFFER"
            failures.append(expr)
            details.append((expr, qdetails, False))
        else:
            agree += 1
            status = "agree"
            if expr in known:
                listed_agree.append(expr)
                note += " (listed in known_differences.txt but agrees now: remove it from the list)"
        print(f"{status:>16}  {expr}  [{points} pts]{note}")
        total_points += points

    print()
    shown = 0
    details.sort(key=lambda d: d[2])  # unlisted differences first
    for expr, qd, is_known in details:
        if shown >= args.details:
            print(f"... details of {len(details) - shown} more differing queries not shown (--details)")
            break
        shown += 1
        print(f"--- {'known difference' if is_known else 'DIFFERENCE'}: {expr}")
        if is_known:
            print(f"    listed because: {known[expr].get('why', '?')}; right: {known[expr].get('right', '?')}")
        keep = 4 if is_known else 14  # a listed difference only needs a reminder
        for line in qd[:keep]:
            print("  " + line)
        if len(qd) > keep:
            print(f"    ... {len(qd) - keep} more lines")
    if details:
        print()

    n = len(queries)
    print(f"{n} queries, {agree} agree, {differ + known_diff} differ "
          f"({known_diff} known differences listed in {os.path.basename(args.known)}, {differ} not listed); "
          f"{len(tasks)} HTTP queries in {elapsed:.1f}s, {total_points} result points from Prometheus")
    failed = False
    if listed_agree:
        print(f"NOTE: {len(listed_agree)} queries of {os.path.basename(args.known)} agree now; remove them: " +
              "; ".join(listed_agree))
    if unknown_listed:
        print(f"NOTE: {os.path.basename(args.known)} lists queries not in the query file: " + "; ".join(unknown_listed))
    if vacuous:
        print(f"FAIL: {len(vacuous)} queries were empty on both sides at every evaluation (flag them 'empty' if intended): "
              + "; ".join(vacuous))
        failed = True
    if differ:
        print(f"FAIL: {differ} queries differ and are not listed as known differences: " + "; ".join(failures))
        failed = True
    if n < args.min_queries and not args.only:
        print(f"FAIL: only {n} queries compared (need at least {args.min_queries})")
        failed = True
    print("RESULT: " + ("FAIL" if failed else "PASS"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
