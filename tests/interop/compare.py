#!/usr/bin/env python3
"""Compares what a Prometheus stored with what it remote-wrote to Pitot.

Python 3.11 standard library only.

For the closed time range [start, end] (milliseconds), it reads from Prometheus:

* every series, via /api/v1/series;
* every non-stale sample, via an instant query of the range vector selector
  {__name__=~".+"}[<end-start>ms] at time `end` (in Prometheus 2.x a range selector
  covers [t - range, t], closed on both ends, so this is exactly [start, end]);
* every sample including staleness markers, via remote read (/api/v1/read with the
  SAMPLES response type: snappy-compressed protobuf, decoded here by hand).

It also sends Pitot the same remote-read request and requires the same answer, bit for
bit (staleness markers and NaN payloads included).

Staleness markers are NaN samples with a special bit pattern (0x7ff0000000000002) that
Prometheus writes when a series disappears from a scrape. They are stored in the TSDB
and remote-written like any sample, but the PromQL engine hides them, so the query
API cannot show them. Remote read returns raw samples including them, so instead of
ignoring the NaN samples Pitot shows that the query API lacks, this script requires
each of them to be a staleness marker that Prometheus really stored at that timestamp
(Pitot's export renders every NaN as "NaN", so the NaN bit pattern itself cannot be
compared; a NaN is matched by being NaN).

It reads from Pitot every series with its samples in [start, end] via /api/v1/export.

Negative zero cannot cross the remote-write wire: Prometheus' generated protobuf
marshaller (prompb/types.pb.go, Sample.MarshalTo) writes the value field only
`if m.Value != 0`, and -0.0 == 0, so a stored -0 is sent (and returned by remote read)
as an absent field, which decodes as +0. The expected value in Pitot for a -0 that
Prometheus stored is therefore +0; every other value must match bit for bit.

Then it checks, series by series (keyed by the full label set):
* the query API agrees with remote read minus staleness markers (a self-check of how
  this script reads Prometheus);
* Pitot has every series and every sample Prometheus has (remote read), with the same
  timestamps and bit-identical values (NaN matches NaN), and nothing more: no extra
  series, no extra samples.

Exit status 0 only when everything matches and enough data was compared.
"""

import argparse
import json
import math
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal

STALE_NAN_BITS = 0x7FF0000000000002
ALL_SERIES = '{__name__=~".+"}'


# ---------------------------------------------------------------------------- HTTP

def http(url, data=None, headers=None, timeout=60):
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read()
    except urllib.error.HTTPError as e:
        body = e.read()[:2000].decode("utf-8", "replace")
        raise SystemExit(f"FAIL: HTTP {e.code} from {url.split('?')[0]}: {body}") from None


def prom_api(base, path, params):
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    # Timestamps are JSON numbers (seconds with a millisecond fraction): parse them
    # as Decimal so that converting to milliseconds is exact.
    doc = json.loads(http(url), parse_float=Decimal)
    if doc.get("status") != "success":
        raise SystemExit(f"FAIL: Prometheus {path} answered {doc}")
    return doc["data"]


def prom_scalar_metrics(base):
    """Prometheus' own /metrics as {name: [(labels_text, value)]}."""
    out = {}
    for line in http(f"{base}/metrics").decode().splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, labels = head.partition("{")
        out.setdefault(name, []).append((labels.rstrip("}"), float(value)))
    return out


def metric_value(metrics, name, agg=max):
    vals = [v for _, v in metrics.get(name, [])]
    return agg(vals) if vals else None


# ---------------------------------------------------------------- values and keys

def key_of(labels):
    return tuple(sorted(labels.items()))


def fmt_labels(key):
    d = dict(key)
    name = d.pop("__name__", "")
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(d.items())) + "}"


def bits(v):
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def same_value(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return bits(a) == bits(b)  # bit-exact: also tells 0.0 from -0.0


def on_the_wire(v):
    """The value as Prometheus' remote-write (and remote-read) protobuf carries it."""
    return 0.0 if v == 0 else v


def show(v):
    if math.isnan(v):
        return "StaleNaN" if bits(v) == STALE_NAN_BITS else "NaN"
    return f"{v!r} (0x{bits(v):016x})"


def secs(ms):
    return f"{ms // 1000}.{ms % 1000:03d}"


# ------------------------------------------------------------- snappy + protobuf
# Remote read speaks snappy block format (not framed) around protobuf messages.

def uvarint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def put_uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def snappy_compress(data):
    """A valid snappy block made of literals only (no compression needed here)."""
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


def snappy_decompress(buf):
    length, pos = uvarint(buf, 0)
    out = bytearray()
    while pos < len(buf):
        tag = buf[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            n = tag >> 2
            if n >= 60:
                nbytes = n - 59
                n = int.from_bytes(buf[pos:pos + nbytes], "little")
                pos += nbytes
            n += 1
            out += buf[pos:pos + n]
            pos += n
            continue
        if kind == 1:
            n = 4 + ((tag >> 2) & 7)
            off = ((tag >> 5) << 8) | buf[pos]
            pos += 1
        elif kind == 2:
            n = 1 + (tag >> 2)
            off = int.from_bytes(buf[pos:pos + 2], "little")
            pos += 2
        else:
            n = 1 + (tag >> 2)
            off = int.from_bytes(buf[pos:pos + 4], "little")
            pos += 4
        if off == 0 or off > len(out):
            raise ValueError("corrupt snappy data")
        start = len(out) - off
        while n > 0:  # copies may overlap their own output
            piece = out[start:start + min(n, off)]
            out += piece
            n -= len(piece)
            start += len(piece)
    if len(out) != length:
        raise ValueError(f"snappy: expected {length} bytes, got {len(out)}")
    return bytes(out)


def pb_fields(buf):
    """Yields (field number, wire type, value) of one protobuf message."""
    pos = 0
    while pos < len(buf):
        key, pos = uvarint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = uvarint(buf, pos)
        elif wire == 1:
            val = buf[pos:pos + 8]
            pos += 8
        elif wire == 2:
            n, pos = uvarint(buf, pos)
            val = buf[pos:pos + n]
            pos += n
        elif wire == 5:
            val = buf[pos:pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, wire, val


def pb_field(num, wire, payload):
    key = put_uvarint((num << 3) | wire)
    if wire == 0:
        return key + put_uvarint(payload & 0xFFFFFFFFFFFFFFFF)
    return key + put_uvarint(len(payload)) + payload


def remote_read(base, start, end, token=None):
    """{labels key: [(ts_ms, value)]} of every raw sample in [start, end]."""
    matcher = pb_field(1, 0, 2) + pb_field(2, 2, b"__name__") + pb_field(3, 2, b".+")  # type RE
    query = pb_field(1, 0, start) + pb_field(2, 0, end) + pb_field(3, 2, matcher)
    request = pb_field(1, 2, query)  # no accepted_response_types: SAMPLES
    body = http(
        f"{base}/api/v1/read",
        data=snappy_compress(request),
        headers={
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "snappy",
            "X-Prometheus-Remote-Read-Version": "0.1.0",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    result = {}
    for f, _, query_result in pb_fields(snappy_decompress(body)):
        if f != 1:
            continue
        for f2, _, ts in pb_fields(query_result):
            if f2 != 1:
                continue
            labels, samples = {}, []
            for f3, _, part in pb_fields(ts):
                if f3 == 1:
                    kv = {f4: v for f4, _, v in pb_fields(part)}
                    labels[kv.get(1, b"").decode()] = kv.get(2, b"").decode()
                elif f3 == 2:
                    v, t = 0.0, 0
                    for f4, _, raw in pb_fields(part):
                        if f4 == 1:
                            v = struct.unpack("<d", raw)[0]
                        elif f4 == 2:
                            t = raw - (1 << 64) if raw >= 1 << 63 else raw
                    if start <= t <= end:
                        samples.append((t, v))
                elif f3 in (3, 4):
                    raise SystemExit("FAIL: remote read returned exemplars or native histograms; this test does not expect any")
            if samples:
                result.setdefault(key_of(labels), []).extend(samples)
    return result


# --------------------------------------------------------------------- readers

def prom_query_samples(base, start, end):
    data = prom_api(base, "/api/v1/query", {"query": f"{ALL_SERIES}[{end - start}ms]", "time": secs(end)})
    if data["resultType"] != "matrix":
        raise SystemExit(f"FAIL: expected a matrix from the range selector, got {data['resultType']}")
    result = {}
    for s in data["result"]:
        samples = [(int(ts * 1000), float(v)) for ts, v in s["values"]]
        result[key_of(s["metric"])] = samples
    return result


def pitot_export(base, token, start, end):
    url = f"{base}/api/v1/export?" + urllib.parse.urlencode({"match[]": ALL_SERIES, "start": secs(start), "end": secs(end)})
    body = http(url, headers={"Authorization": f"Bearer {token}"})
    result = {}
    for line in body.decode().splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        if len(obj["values"]) != len(obj["timestamps"]):
            raise SystemExit(f"FAIL: Pitot export line with {len(obj['values'])} values and {len(obj['timestamps'])} timestamps: {line[:300]}")
        key = key_of(obj["metric"])
        if key in result:
            raise SystemExit(f"FAIL: Pitot exported series {fmt_labels(key)} twice")
        samples = []
        for t, v in zip(obj["timestamps"], obj["values"]):
            if isinstance(v, str) and v not in ("NaN", "+Inf", "-Inf"):
                raise SystemExit(f"FAIL: Pitot export has the non-numeric value {v!r} in {fmt_labels(key)}")
            samples.append((int(t), float(v)))
        result[key] = samples
    return result


# --------------------------------------------------------------------- compare

def diff_series(expected, actual):
    """Differences between two sample lists as (kind, ts, expected, actual)."""
    out = []
    exp = dict(expected)
    act = dict(actual)
    for t in sorted(set(exp) | set(act)):
        if t not in act:
            out.append(("missing sample", t, exp[t], None))
        elif t not in exp:
            out.append(("extra sample", t, None, act[t]))
        elif not same_value(exp[t], act[t]):
            out.append(("value mismatch", t, exp[t], act[t]))
    return out


def check_sorted(name, data, problems):
    for key, samples in data.items():
        ts = [t for t, _ in samples]
        if any(a >= b for a, b in zip(ts, ts[1:])):
            problems.append(f"{name}: timestamps of {fmt_labels(key)} are not strictly increasing")


def wait_for_flush(prom, end, timeout):
    """Waits until Prometheus has sent samples past `end` to the remote endpoint."""
    deadline = time.time() + timeout
    while True:
        m = prom_scalar_metrics(prom)
        sent = metric_value(m, "prometheus_remote_storage_queue_highest_sent_timestamp_seconds", min)
        stored = metric_value(m, "prometheus_remote_storage_highest_timestamp_in_seconds")
        # The gauge may hold whole seconds only; sent >= end + 2 s means every sample
        # at or before `end` went out (a shard sends in write-ahead-log order; the
        # summary prints the shard count, which stays 1 at this load).
        if sent is not None and sent * 1000 >= end + 2000:
            return m, sent, stored
        if time.time() > deadline:
            raise SystemExit(
                f"FAIL: Prometheus did not send samples up to {secs(end)} within {timeout}s "
                f"(highest sent {sent}, highest stored {stored})"
            )
        time.sleep(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prometheus", required=True, help="Prometheus base URL")
    ap.add_argument("--pitot", required=True, help="Pitot base URL")
    ap.add_argument("--token", required=True, help="Pitot token with metrics:read")
    ap.add_argument("--start", type=int, required=True, help="range start, Unix milliseconds")
    ap.add_argument("--end", type=int, required=True, help="range end, Unix milliseconds")
    ap.add_argument("--min-series", type=int, default=50)
    ap.add_argument("--min-samples", type=int, default=1000)
    ap.add_argument("--flush-timeout", type=int, default=60)
    ap.add_argument("--require-edge-cases", action="store_true",
                    help="fail unless the compared samples include NaN, +Inf, -Inf, -0, a subnormal and a staleness marker (target.py serves them)")
    args = ap.parse_args()
    start, end = args.start, args.end
    prom, pitot = args.prometheus.rstrip("/"), args.pitot.rstrip("/")

    print(f"comparison window [{secs(start)}, {secs(end)}] ({(end - start) / 1000:.3f} s, both ends included)")
    m, sent, stored = wait_for_flush(prom, end, args.flush_timeout)
    rw = {
        name.replace("prometheus_remote_storage_", ""): metric_value(m, name, sum)
        for name in (
            "prometheus_remote_storage_samples_total",
            "prometheus_remote_storage_samples_failed_total",
            "prometheus_remote_storage_samples_retried_total",
            "prometheus_remote_storage_samples_dropped_total",
            "prometheus_remote_storage_samples_pending",
            "prometheus_remote_storage_shards",
        )
    }
    print(f"remote write: highest sent {sent:.0f}, highest stored {stored:.0f}; " + ", ".join(f"{k}={v:g}" for k, v in rw.items() if v is not None))

    series_list = {key_of(s) for s in prom_api(prom, "/api/v1/series", {"match[]": ALL_SERIES, "start": secs(start), "end": secs(end)})}
    queried = prom_query_samples(prom, start, end)
    raw = remote_read(prom, start, end)
    exported = pitot_export(pitot, args.token, start, end)

    problems = []  # failures about how Prometheus itself was read
    for name, data in (("Prometheus query API", queried), ("Prometheus remote read", raw)):
        check_sorted(name, data, problems)

    # Self-check: the query API must equal remote read without staleness markers.
    stale = {k: {t for t, v in s if bits(v) == STALE_NAN_BITS} for k, s in raw.items()}
    visible = {k: [(t, v) for t, v in s if bits(v) != STALE_NAN_BITS] for k, s in raw.items()}
    visible = {k: s for k, s in visible.items() if s}
    for key in set(visible) | set(queried):
        d = diff_series(visible.get(key, []), [(t, on_the_wire(v)) for t, v in queried.get(key, [])])
        if d:
            problems.append(f"Prometheus query API and remote read disagree on {fmt_labels(key)}: {d[:3]}")
    for key in queried:
        if key not in series_list:
            problems.append(f"{fmt_labels(key)} has samples but /api/v1/series does not list it")
    listed_without_samples = series_list - set(raw)
    if problems:
        print("FAIL: cannot trust how Prometheus was read:")
        for p in problems[:10]:
            print("  " + p)
        return 1

    # The comparison proper: Prometheus' raw samples (remote read) against Pitot.
    mismatches = []
    check_sorted("Pitot export", exported, mismatches)  # also catches duplicate timestamps
    missing_series = sorted(set(raw) - set(exported))
    extra_series = sorted(set(exported) - set(raw))
    for key in missing_series:
        mismatches.append(f"missing series {fmt_labels(key)} ({len(raw[key])} samples)")
    for key in extra_series:
        mismatches.append(f"extra series in Pitot {fmt_labels(key)} ({len(exported[key])} samples, first at {secs(exported[key][0][0])})")
    samples_compared = stale_matched = 0
    counts = {"missing sample": 0, "extra sample": 0, "value mismatch": 0}
    for key in sorted(set(raw) & set(exported)):
        samples_compared += len(raw[key])
        stale_matched += sum(1 for t, v in exported[key] if t in stale[key] and math.isnan(v))
        expected = [(t, on_the_wire(v)) for t, v in raw[key]]  # remote read already carries wire values
        for kind, t, e, a in diff_series(expected, exported[key]):
            counts[kind] += 1
            detail = f"{kind} in {fmt_labels(key)} at {secs(t)}"
            if e is not None:
                detail += f": Prometheus {show(e)}"
            if a is not None:
                detail += f"{';' if e is not None else ':'} Pitot {show(a)}"
            mismatches.append(detail)

    # Pitot's own remote read (SAMPLES) must answer the same request as Prometheus'
    # does, bit for bit: staleness markers and every NaN payload included.
    pitot_raw = remote_read(pitot, start, end, args.token)
    read_mismatches = 0
    for key in set(raw) | set(pitot_raw):
        want = [(t, bits(v)) for t, v in raw.get(key, [])]
        got = [(t, bits(v)) for t, v in pitot_raw.get(key, [])]
        if want != got:
            read_mismatches += 1
            mismatches.append(f"remote read of {fmt_labels(key)} differs: Prometheus {len(want)} samples, Pitot {len(got)}; first difference {next(((a, b) for a, b in zip(want, got) if a != b), None)}")
    print(f"remote read: Pitot answered {len(pitot_raw)} series, {sum(len(s) for s in pitot_raw.values())} samples; "
          f"{read_mismatches} series differ bit for bit from Prometheus' answer")

    series_compared = len(set(raw) & set(exported))
    total_stale = sum(len(s) for s in stale.values())
    print(f"Prometheus: {len(series_list)} series listed by /api/v1/series, {len(queried)} with samples in the query API, "
          f"{len(raw)} in remote read ({total_stale} staleness markers); "
          f"{len(listed_without_samples)} listed without samples in the window")
    print(f"Pitot: {len(exported)} series, {sum(len(s) for s in exported.values())} samples exported")
    print(f"series compared: {series_compared}")
    print(f"samples compared: {samples_compared} (of which {total_stale} staleness markers, {stale_matched} matched as NaN in Pitot)")
    print(f"mismatches: {len(mismatches)} (missing series {len(missing_series)}, extra series {len(extra_series)}, "
          f"missing samples {counts['missing sample']}, extra samples {counts['extra sample']}, "
          f"value mismatches {counts['value mismatch']})")
    for detail in mismatches[:10]:
        print("  " + detail)

    # Which awkward values were part of the comparison (counted on Prometheus' side).
    compared = [v for key in set(raw) & set(exported) for _, v in raw[key]]
    negative_zeros = sum(1 for key in set(queried) & set(exported) for _, v in queried[key] if v == 0 and math.copysign(1, v) < 0)
    special = {
        "NaN": sum(1 for v in compared if math.isnan(v) and bits(v) != STALE_NAN_BITS),
        "staleness marker": sum(1 for v in compared if bits(v) == STALE_NAN_BITS),
        "+Inf": sum(1 for v in compared if v == math.inf),
        "-Inf": sum(1 for v in compared if v == -math.inf),
        "-0 (expected as +0)": negative_zeros,
        "subnormal": sum(1 for v in compared if v != 0 and abs(v) < 2.2250738585072014e-308),
    }
    print("special values compared: " + ", ".join(f"{k} {n}" for k, n in special.items()))

    failed = bool(mismatches)
    if args.require_edge_cases and not all(special.values()):
        print("FAIL: some kinds of special values were not compared: " + ", ".join(k for k, n in special.items() if not n))
        failed = True
    if series_compared < args.min_series:
        print(f"FAIL: only {series_compared} series compared (need at least {args.min_series})")
        failed = True
    if samples_compared < args.min_samples:
        print(f"FAIL: only {samples_compared} samples compared (need at least {args.min_samples})")
        failed = True
    print("RESULT: " + ("FAIL" if failed else "PASS"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
