#!/usr/bin/env python3
"""A scrape target with awkward values, for the Prometheus interop test.

Serves /metrics (Prometheus text format 0.0.4) on 127.0.0.1 on a free port and prints
`listening on <port>` once it is ready. Python 3.11 standard library only.

What it exposes:
* interop_edge{case=...}: NaN, +Inf, -Inf, -0, 0, the smallest and largest subnormals,
  the smallest normal, the largest finite doubles, 0.1, 2^53 + 1, 1e21, pi;
* interop_random{i="0".."19"}: a new random finite double (uniform over bit patterns)
  at every scrape, printed with repr(), which round-trips exactly;
* interop_counter_total: grows by a fractional amount at every scrape;
* interop_labels / interop_long_label: label values with quotes, backslashes, a
  newline, non-ASCII text and a 2000-character value;
* interop_vanishing{i="0".."9"}: present for 15 s, absent for 15 s, and so on from
  the start of this process, so that Prometheus writes staleness markers when the
  series disappear and starts them again when they come back.
"""

import http.server
import random
import struct
import sys
import time

START = time.monotonic()
COUNTER = [0.0]

EDGE = [
    ("nan", "NaN"),
    ("pos_inf", "+Inf"),
    ("neg_inf", "-Inf"),
    ("neg_zero", "-0"),
    ("zero", "0"),
    ("min_subnormal", "5e-324"),
    ("max_subnormal", "2.225073858507201e-308"),
    ("min_normal", "2.2250738585072014e-308"),
    ("max", "1.7976931348623157e+308"),
    ("neg_max", "-1.7976931348623157e+308"),
    ("tenth", "0.1"),
    ("two_pow_53_plus_1", "9007199254740993"),
    ("big", "1e21"),
    ("pi", "3.141592653589793"),
]


def random_finite():
    while True:
        (v,) = struct.unpack("<d", random.getrandbits(64).to_bytes(8, "little"))
        if v == v and v not in (float("inf"), float("-inf")):
            return v


def escape(value):
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def exposition():
    lines = ["# TYPE interop_edge gauge"]
    lines += [f'interop_edge{{case="{case}"}} {value}' for case, value in EDGE]
    lines.append("# TYPE interop_random gauge")
    lines += [f'interop_random{{i="{i}"}} {random_finite()!r}' for i in range(20)]
    COUNTER[0] += random.random() * 10
    lines += ["# TYPE interop_counter_total counter", f"interop_counter_total {COUNTER[0]!r}"]
    labels = {
        "quote": 'a"b',
        "backslash": "c\\d",
        "newline": "e\nf",
        "unicode": "ünï©ødé ✓ 日本語",
        "spaces": " padded ",
    }
    lines.append("interop_labels{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "} 1")
    lines.append('interop_long_label{v="' + "x" * 2000 + '"} 2')
    if int((time.monotonic() - START) // 15) % 2 == 0:
        lines.append("# TYPE interop_vanishing gauge")
        lines += [f'interop_vanishing{{i="{i}"}} {time.time() * (i + 1)!r}' for i in range(10)]
    return ("\n".join(lines) + "\n").encode()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?")[0] != "/metrics":
            self.send_error(404)
            return
        body = exposition()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
