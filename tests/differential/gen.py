#!/usr/bin/env python3
"""Deterministic data for the PromQL differential test (Pitot against Prometheus).

Python 3.11 standard library only. Writes remote-write v1 request bodies (hand-encoded
protobuf `prometheus.WriteRequest`, snappy block format made of literals only, which is
valid snappy) into --out, plus meta.json describing them. compare.py sends the very same
bytes to both servers.

Timing. The data ends at --end-ms (default: the last whole minute at least two minutes
before now) and spans --span seconds. Samples sit at 7.5 s past each 15 s step:
    t = start + 7500 + 15000 * k,  start = end - span,  k = 0 .. span/15 - 1
so the last sample is at end - 7.5 s. Queries are evaluated on whole minutes, so no
sample timestamp (always on a half second) ever coincides with an evaluation time or a
range-selector or lookback boundary (whole seconds): Prometheus 2.x's closed ranges
[t - r, t] and 3.x's left-open ranges (t - r, t] select the same samples.

Series (536), labels job/instance/handler/method/code/mode/... (no newlines anywhere):
  http_requests_total                     counter, 6 api instances x 3 handlers x 3 codes;
                                          api-2 and api-4 restart (counter resets); two
                                          code="503" series start late, one of them stops
  http_request_duration_seconds_bucket    classic histogram, le 0.005 .. +Inf, with _sum
  / _sum / _count                         and _count, per api instance and handler
  node_cpu_seconds_total                  counter, 8 node instances x 4 cpus x 4 modes;
                                          node-3 reboots (reset)
  node_memory_MemTotal_bytes / MemFree    constant / random-walk gauges
  node_num_cpus, node_uname_info          constant 4 / info metric (release, nodename)
  up                                      1, with 0 during the restarts, 0 for node-5's last 10 min
  temperature_celsius                     random-walk gauge around 0 (negatives), 3 sensors
  queue_depth                             integer gauge 0..20 (many ties)
  node_filesystem_avail_bytes             slowly falling gauge with clean-ups
  batch_last_success_timestamp_seconds    a Unix time updated every 5-20 minutes
  probe_value                             gauge; p-1 has a plain NaN every 20th sample
  worker_jobs_active                      staleness cases: a series that stops, one ending
                                          in a staleness marker, one with a marker and a
                                          restart, one starting late, one with a gap

Usage:
  python3 gen.py --out DIR [--end-ms MS] [--span 7200] [--batch-minutes 15] [--seed 1]
"""

import argparse
import json
import math
import os
import random
import struct
import sys
import time

STEP_MS = 15_000
OFFSET_MS = 7_500
STALE_NAN_BITS = 0x7FF0000000000002
STALE = object()  # value placeholder: the Prometheus staleness marker


# ------------------------------------------------------------ protobuf + snappy

def put_uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def ld(field, payload):
    """A length-delimited protobuf field."""
    return put_uvarint((field << 3) | 2) + put_uvarint(len(payload)) + payload


def encode_sample(t, v):
    """prometheus.Sample{double value = 1; int64 timestamp = 2}."""
    if v is STALE:
        raw = struct.pack("<Q", STALE_NAN_BITS)
    else:
        raw = struct.pack("<d", v)
    return b"\x09" + raw + b"\x10" + put_uvarint(t & 0xFFFFFFFFFFFFFFFF)


def encode_series(labels, samples):
    """prometheus.TimeSeries{repeated Label labels = 1; repeated Sample samples = 2}."""
    out = bytearray()
    for name, value in sorted(labels.items()):
        out += ld(1, ld(1, name.encode()) + ld(2, value.encode()))
    for t, v in samples:
        out += ld(2, encode_sample(t, v))
    return bytes(out)


def snappy_literals(data):
    """A valid snappy block consisting of literal elements only."""
    out = bytearray(put_uvarint(len(data)))
    for i in range(0, len(data), 65536):
        chunk = data[i:i + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + n.to_bytes(2, "little")
        out += chunk
    return bytes(out)


# --------------------------------------------------------------------- workload

API_INSTANCES = [f"api-{i}" for i in range(6)]
NODE_INSTANCES = [f"node-{i}" for i in range(8)]
HANDLERS = {"/api/v1/query": "GET", "/api/v1/write": "POST", "/metrics": "GET"}
CODES = {"200": (5.0, 50.0), "400": (0.2, 2.0), "500": (0.0, 0.3)}
LES = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"]
MODES = {"idle": 0.7, "user": 0.15, "system": 0.08, "iowait": 0.03}
SENSORS = ["cpu", "board", "ambient"]
MOUNTS = ["/", "/var", "/data"]


def lognormal_cdf(x, mu, sigma):
    if x == math.inf:
        return 1.0
    return 0.5 * (1.0 + math.erf((math.log(x) - mu) / (sigma * math.sqrt(2.0))))


def build(n, start_ms, seed):
    """[(labels, [value or None per step])] for n steps; None means no sample."""
    rng = random.Random(seed)
    times = [start_ms + OFFSET_MS + STEP_MS * k for k in range(n)]
    series = []

    def add(labels, values):
        assert len(values) == n
        series.append((labels, values))

    # Restart (counter reset) points, in steps from the start.
    api_restart = {"api-2": n - 200, "api-4": n - 100}
    node_restart = {"node-3": n - 150}

    # http_requests_total
    for inst in API_INSTANCES:
        for handler, method in HANDLERS.items():
            for code, (lo, hi) in CODES.items():
                rate = rng.uniform(lo, hi)
                v = float(rng.randrange(0, 100000))
                vals = []
                for k in range(n):
                    if k == api_restart.get(inst):
                        v = 0.0
                    inc = max(0, round(rng.gauss(rate * 15, math.sqrt(rate * 15) + 0.3)))
                    v += inc
                    vals.append(v)
                add({"__name__": "http_requests_total", "job": "api", "instance": inst,
                     "handler": handler, "method": method, "code": code}, vals)

    # counters that appear late (extrapolation towards zero in rate/increase) and
    # one that stops (its last sample ages out of the lookback window)
    for inst, handler, code, first, last in (("api-5", "/metrics", "503", n - 80, n),
                                             ("api-1", "/api/v1/write", "503", n - 150, n - 70)):
        rate = rng.uniform(0.5, 3.0)
        v = float(rng.randrange(0, 20))
        vals = []
        for k in range(n):
            if first <= k < last:
                v += max(0, round(rng.gauss(rate * 15, math.sqrt(rate * 15))))
                vals.append(v)
            else:
                vals.append(None)
        add({"__name__": "http_requests_total", "job": "api", "instance": inst,
             "handler": handler, "method": HANDLERS[handler], "code": code}, vals)

    # classic histogram per (instance, handler)
    for inst in API_INSTANCES:
        for handler in HANDLERS:
            mu = math.log(rng.uniform(0.02, 0.4))
            sigma = rng.uniform(0.6, 1.2)
            rate = rng.uniform(2.0, 30.0)
            counts = [float(rng.randrange(0, 5000))] * len(LES)
            counts = [c * (i + 1) for i, c in enumerate(counts)]  # cumulative start
            total = counts[-1]
            ssum = round(total * math.exp(mu), 3)
            bucket_vals = [[] for _ in LES]
            sum_vals, count_vals = [], []
            for k in range(n):
                if k == api_restart.get(inst):
                    counts = [0.0] * len(LES)
                    total = 0.0
                    ssum = 0.0
                nreq = max(0, round(rng.gauss(rate * 15, math.sqrt(rate * 15))))
                m = mu + rng.gauss(0, 0.15)
                prev = 0
                for i, le in enumerate(LES):
                    c = nreq if le == "+Inf" else math.floor(nreq * lognormal_cdf(float(le), m, sigma))
                    c = max(c, prev)
                    prev = c
                    counts[i] += c
                    bucket_vals[i].append(counts[i])
                total += nreq
                ssum = round(ssum + nreq * math.exp(m + sigma * sigma / 2), 3)
                sum_vals.append(ssum)
                count_vals.append(total)
            base = {"job": "api", "instance": inst, "handler": handler}
            for i, le in enumerate(LES):
                add({"__name__": "http_request_duration_seconds_bucket", **base, "le": le}, bucket_vals[i])
            add({"__name__": "http_request_duration_seconds_sum", **base}, sum_vals)
            add({"__name__": "http_request_duration_seconds_count", **base}, count_vals)

    # node_cpu_seconds_total
    for inst in NODE_INSTANCES:
        for cpu in range(4):
            for mode, busy in MODES.items():
                v = round(rng.uniform(1e4, 1e6) * busy, 2)
                vals = []
                for k in range(n):
                    if k == node_restart.get(inst):
                        v = 0.0
                    v = round(v + max(0.0, rng.gauss(busy * 15, busy * 3)), 2)
                    vals.append(v)
                add({"__name__": "node_cpu_seconds_total", "job": "node", "instance": inst,
                     "cpu": str(cpu), "mode": mode}, vals)

    # memory, cpus, uname
    for i, inst in enumerate(NODE_INSTANCES):
        total = float(2 ** rng.randrange(33, 36))
        frac = rng.uniform(0.2, 0.8)
        free = []
        for k in range(n):
            frac = min(0.95, max(0.05, frac + rng.gauss(0, 0.01)))
            free.append(math.floor(frac * total / 4096) * 4096.0)
        add({"__name__": "node_memory_MemTotal_bytes", "job": "node", "instance": inst}, [total] * n)
        add({"__name__": "node_memory_MemFree_bytes", "job": "node", "instance": inst}, free)
        add({"__name__": "node_num_cpus", "job": "node", "instance": inst}, [4.0] * n)
        add({"__name__": "node_uname_info", "job": "node", "instance": inst,
             "release": f"6.1.0-{i % 3}", "nodename": f"host{i}"}, [1.0] * n)

    # up
    for inst in API_INSTANCES + NODE_INSTANCES:
        job = "api" if inst.startswith("api") else "node"
        vals = []
        r = api_restart.get(inst, node_restart.get(inst))
        for k in range(n):
            down = (r is not None and r - 4 <= k < r) or (inst == "node-5" and k >= n - 40)
            vals.append(0.0 if down else 1.0)
        add({"__name__": "up", "job": job, "instance": inst}, vals)

    # temperature_celsius: random walks around 0, some negative
    for inst in NODE_INSTANCES:
        for sensor in SENSORS:
            v = round(rng.uniform(-10, 30), 2)
            vals = []
            for k in range(n):
                v = round(v + rng.gauss(0, 0.6), 2)
                vals.append(v)
            add({"__name__": "temperature_celsius", "job": "node", "instance": inst, "sensor": sensor}, vals)

    # queue_depth: integers 0..20, many ties
    for inst in API_INSTANCES:
        for q in range(4):
            v = rng.randrange(0, 21)
            vals = []
            for k in range(n):
                if rng.random() < 0.3:
                    v = min(20, max(0, v + rng.choice((-1, 1))))
                vals.append(float(v))
            add({"__name__": "queue_depth", "job": "api", "instance": inst, "queue": f"q{q}"}, vals)

    # node_filesystem_avail_bytes: slowly falling, occasional clean-ups
    for inst in NODE_INSTANCES:
        for mp in MOUNTS:
            size = float(2 ** rng.randrange(34, 38))
            avail = size * rng.uniform(0.3, 0.9)
            fall = size * rng.uniform(1e-5, 1e-4)
            vals = []
            for k in range(n):
                avail -= fall * rng.uniform(0.5, 1.5)
                if rng.random() < 0.005:
                    avail += size * 0.05
                avail = min(size, max(0.0, avail))
                vals.append(math.floor(avail / 4096) * 4096.0)
            add({"__name__": "node_filesystem_avail_bytes", "job": "node", "instance": inst, "mountpoint": mp}, vals)

    # batch_last_success_timestamp_seconds
    for b in range(4):
        last = (times[0] - rng.randrange(60_000, 600_000)) // 1000
        next_run = rng.randrange(20, 80)
        vals = []
        for k in range(n):
            if k == next_run:
                last = times[k] // 1000
                next_run = k + rng.randrange(20, 80)
            vals.append(float(last))
        add({"__name__": "batch_last_success_timestamp_seconds", "job": "batch", "instance": f"b-{b}"}, vals)

    # probe_value: p-1 has a plain NaN every 20th sample
    for p in range(4):
        v = rng.uniform(0, 100)
        vals = []
        for k in range(n):
            v = round(v + rng.gauss(0, 1), 3)
            vals.append(math.nan if p == 1 and k % 20 == 7 else v)
        add({"__name__": "probe_value", "job": "probe", "instance": f"p-{p}"}, vals)

    # worker_jobs_active: staleness cases
    for w in range(10):
        vals = []
        for k in range(n):
            v = float((k // 7 + w) % 9)
            if w == 2 and k >= n - 120:        # stops 30 min before the end, no marker
                v = None
            elif w == 3 and k >= n - 80:       # staleness marker 20 min before the end, then nothing
                v = STALE if k == n - 80 else None
            elif w == 4 and n - 160 <= k < n - 100:  # marker, silence, restart 25 min before the end
                v = STALE if k == n - 160 else None
            elif w == 5 and k < n - 60:        # appears 15 min before the end
                v = None
            elif w == 6 and n - 140 <= k < n - 100:  # 10 min gap without a marker
                v = None
            vals.append(v)
        add({"__name__": "worker_jobs_active", "job": "worker", "instance": f"w-{w}"}, vals)

    return series, times


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="directory for batch-NNN.bin and meta.json")
    ap.add_argument("--end-ms", type=int, help="end of the data, a whole minute (default: now rounded down to the minute, minus 2 min)")
    ap.add_argument("--span", type=int, default=7200, help="seconds of data [7200]")
    ap.add_argument("--batch-minutes", type=int, default=15, help="time window per request [15]")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    end_ms = args.end_ms if args.end_ms is not None else (int(time.time()) // 60 - 2) * 60_000
    if end_ms % 60_000:
        sys.exit("--end-ms must be a whole minute")
    if args.span % 60:
        sys.exit("--span must be whole minutes")
    start_ms = end_ms - args.span * 1000
    n = args.span * 1000 // STEP_MS
    series, times = build(n, start_ms, args.seed)

    os.makedirs(args.out, exist_ok=True)
    per_batch = args.batch_minutes * 60_000 // STEP_MS
    files = []
    samples = stale = nan = 0
    for b, k0 in enumerate(range(0, n, per_batch)):
        body = bytearray()
        for labels, values in series:
            pts = [(times[k], values[k]) for k in range(k0, min(n, k0 + per_batch)) if values[k] is not None]
            if not pts:
                continue
            samples += len(pts)
            stale += sum(1 for _, v in pts if v is STALE)
            nan += sum(1 for _, v in pts if v is not STALE and math.isnan(v))
            body += ld(1, encode_series(labels, pts))  # WriteRequest.timeseries = 1
        name = f"batch-{b:03d}.bin"
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(snappy_literals(bytes(body)))
        files.append(name)

    meta = {
        "start_ms": start_ms,
        "end_ms": end_ms,
        "first_sample_ms": times[0],
        "last_sample_ms": times[-1],
        "step_ms": STEP_MS,
        "series": len(series),
        "samples": samples,            # every sample sent, staleness markers included
        "stale_markers": stale,
        "nan_samples": nan,
        "batches": files,
        "seed": args.seed,
    }
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"gen: {len(series)} series, {samples} samples ({stale} staleness markers, {nan} NaN) "
          f"in {len(files)} requests, [{start_ms}, {end_ms}] ms")


if __name__ == "__main__":
    main()
