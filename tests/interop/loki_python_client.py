#!/usr/bin/env python3
"""Pushes log records to Pitot with python-logging-loki (a real Loki client from PyPI).

usage: loki_python_client.py PUSH_URL TOKEN COUNT APPLICATION

Prints `ACK i` after record i was accepted (the handler got 204) and `FAIL i` and
exits at the first record that was not, so a caller can tell exactly which records
were acknowledged when the server dies mid-stream.
"""
import logging
import sys

import logging_loki

url, token, count, application = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
handler = logging_loki.LokiHandler(
    url=url, tags={"application": application}, auth=("pitot", token), version="1"
)
failures = []
handler.handleError = failures.append
logger = logging.getLogger(application)
logger.propagate = False
logger.setLevel(logging.INFO)
logger.addHandler(handler)
for i in range(count):
    logger.info("record %d of %s", i, application)
    if failures:
        print(f"FAIL {i}", flush=True)
        sys.exit(0)
    print(f"ACK {i}", flush=True)
