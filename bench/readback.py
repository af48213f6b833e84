#!/usr/bin/env python3
"""Bit-exact read-back of the shared remote-write workload from Pitot.

Regenerates the workload with the shared generator (../shared/bench/rwgen.py: the same
series, values and timestamps that bench_metrics.py / rwgen.py pushed for --series,
--span, --step, --seed, --const-frac and --end-ms), reads every series back from
`/api/v1/export?match[]={__name__=~".+"}` (one JSON object per line:
{"metric": {...}, "values": [...], "timestamps": [...]}), matches series by label set
and checks that every timestamp and the float64 bit pattern of every value are identical,
and that no series is missing, duplicated or extra.

  python3 bench/readback.py --base http://127.0.0.1:PORT --token-file DATA/initial-token \
      --series 2000 --end-ms 1796400000000

Prints `readback: N series, M samples, bit-exact`, or exits 1 naming the first series
and sample that differ. Streams the export (the expected values are one float64 matrix,
series x steps: 385 MB for 100k series x 481 steps).
"""
import argparse
import io
import json
import math
import os
import struct
import sys
import time
import urllib.parse
import urllib.request

import numpy as np

SHARED = os.environ.get("PITOT_SHARED") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")


def bits(v):
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def fmt_value(v):
    return f"{v!r} (bits {bits(v):#018x})"


def parse_value(x):
    # Numbers, or the strings Pitot writes for values JSON numbers cannot hold.
    if isinstance(x, str):
        return {"NaN": math.nan, "+Inf": math.inf, "Inf": math.inf, "-Inf": -math.inf}.get(x, None)
    return float(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="Pitot base URL, e.g. http://127.0.0.1:8080")
    ap.add_argument("--token", help="bearer token of the tenant the workload was written to")
    ap.add_argument("--token-file", help="file holding the token (e.g. <data dir>/initial-token)")
    ap.add_argument("--series", type=int, default=100_000)
    ap.add_argument("--span", type=float, default=7200)
    ap.add_argument("--step", type=float, default=15)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--const-frac", type=float, default=0.0)
    ap.add_argument("--end-ms", type=int, required=True, help="last timestamp of the workload (ms)")
    ap.add_argument("--shared", default=SHARED, help="the shared folder (holding bench/rwgen.py)")
    args = ap.parse_args()
    token = args.token or open(args.token_file).read().strip()

    sys.path.insert(0, os.path.join(args.shared, "bench"))
    import rwgen  # noqa: E402

    t0 = time.time()
    # As rwgen.build_requests: n_steps samples per series, the last at end_ms.
    series, _, _ = rwgen.build_series(args.series, args.seed)
    n_steps = int(args.span // args.step) + 1
    step_ms = int(args.step * 1000)
    ts = args.end_ms - (n_steps - 1 - np.arange(n_steps, dtype=np.int64)) * step_ms
    V = rwgen.gen_values(series, n_steps, args.step, args.seed, args.const_frac)
    Vbits = V.view(np.uint64)
    index = {}
    for i, s in enumerate(series):
        key = tuple(sorted(s[0]))
        assert key not in index, f"workload has duplicate series {key}"
        index[key] = i
    t_gen = time.time() - t0

    # A window wider than the workload, so that a stray sample outside it shows up too.
    margin = 86_400_000
    params = urllib.parse.urlencode({
        "match[]": '{__name__=~".+"}',
        "start": f"{(int(ts[0]) - margin) / 1000:.3f}",
        "end": f"{(int(ts[-1]) + margin) / 1000:.3f}",
    })
    url = args.base.rstrip("/") + "/api/v1/export?" + params
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    seen = np.zeros(len(series), dtype=bool)
    n_lines = n_samples = 0

    def fail(msg):
        print(f"readback: FAILED ({n_lines} series read): {msg}", file=sys.stderr)
        sys.exit(1)

    t1 = time.time()
    with urllib.request.urlopen(req, timeout=600) as resp:
        reader = io.BufferedReader(resp, buffer_size=1 << 20)
        for line in reader:
            if not line.strip():
                continue
            obj = json.loads(line)
            labels = tuple(sorted(obj["metric"].items()))
            name = "{" + ", ".join(f'{k}="{v}"' for k, v in labels) + "}"
            i = index.get(labels)
            if i is None:
                fail(f"series {name} is not in the workload")
            if seen[i]:
                fail(f"series {name} exported twice")
            seen[i] = True
            n_lines += 1
            got_t, got_v = obj["timestamps"], obj["values"]
            if len(got_t) != len(got_v):
                fail(f"series {name}: {len(got_t)} timestamps but {len(got_v)} values")
            t_arr = np.array(got_t, dtype=np.int64)
            if len(t_arr) != n_steps or not np.array_equal(t_arr, ts):
                if len(t_arr) != n_steps:
                    extra = sorted(set(t_arr.tolist()) ^ set(ts.tolist()))
                    fail(f"series {name}: {len(t_arr)} samples, expected {n_steps}"
                         + (f"; first timestamp missing or extra: {extra[0]}" if extra else ""))
                j = int(np.nonzero(t_arr != ts)[0][0])
                fail(f"series {name}, sample {j}: timestamp {int(t_arr[j])}, expected {int(ts[j])}")
            try:
                v_arr = np.array(got_v, dtype=np.float64)
            except (TypeError, ValueError):
                v_arr = np.array([parse_value(x) for x in got_v], dtype=np.float64)
            d = v_arr.view(np.uint64) != Vbits[i]
            if d.any():
                j = int(np.nonzero(d)[0][0])
                fail(f"series {name}, sample {j} (t={int(ts[j])}): value {fmt_value(float(v_arr[j]))} "
                     f"as exported {got_v[j]!r}, expected {fmt_value(float(V[i, j]))}; "
                     f"{int(d.sum())} of {n_steps} values of this series differ")
            n_samples += n_steps
    if not seen.all():
        i = int(np.nonzero(~seen)[0][0])
        labels = tuple(sorted(series[i][0]))
        name = "{" + ", ".join(f'{k}="{v}"' for k, v in labels) + "}"
        fail(f"{int((~seen).sum())} series of the workload not exported, first {name}")
    print(f"readback: {n_lines} series, {n_samples} samples, bit-exact "
          f"(regenerated in {t_gen:.1f} s, export read and compared in {time.time() - t1:.1f} s)")


if __name__ == "__main__":
    main()
