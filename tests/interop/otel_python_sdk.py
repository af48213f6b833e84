#!/usr/bin/env python3
"""Sends metrics and logs to Pitot with the OpenTelemetry Python SDK and its OTLP/HTTP
exporters (opentelemetry-sdk, opentelemetry-exporter-otlp-proto-http from PyPI).

usage: otel_python_sdk.py BASE_URL TOKEN

Metrics: a counter, an up-down counter, a histogram and an observable gauge, exported
once with cumulative temporality (the SDK's default). Logs: two records through the
standard logging module, one inside a span so it carries a trace context. Prints
`TRACE <trace id hex> <span id hex>` for that record, then `EXPORTED <kind> <result>`
for every export, and exits 1 if any export did not succeed.
"""
import logging
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.metrics import Observation

base, token = sys.argv[1], sys.argv[2]
headers = {"Authorization": f"Bearer {token}"}
resource = Resource.create(
    {
        "service.name": "shop-api",
        "service.namespace": "shop",
        "service.instance.id": "instance-1",
        "deployment.environment": "test",
    }
)
results = []


class RecordingMetricExporter(OTLPMetricExporter):
    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        result = super().export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        results.append(("metrics", result.name))
        return result


class RecordingLogExporter(OTLPLogExporter):
    def export(self, batch, *args, **kwargs):
        result = super().export(batch, *args, **kwargs)
        results.append(("logs", result.name))
        return result


# --- metrics ---------------------------------------------------------------------------
reader = PeriodicExportingMetricReader(
    RecordingMetricExporter(endpoint=f"{base}/otlp/v1/metrics", headers=headers),
    export_interval_millis=3_600_000,
)
meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
meter = meter_provider.get_meter("shop.checkout", "1.0")
orders = meter.create_counter("orders.placed", unit="{order}", description="Orders placed")
orders.add(3, {"payment.method": "card"})
orders.add(2, {"payment.method": "card"})
queue = meter.create_up_down_counter("queue.items", unit="{item}", description="Items queued")
queue.add(5)
queue.add(-2)
latency = meter.create_histogram("checkout.duration", unit="s", description="Checkout time")
for value in (0.1, 0.7, 2.0):
    latency.record(value)
meter.create_observable_gauge(
    "cpu.temperature",
    callbacks=[lambda options: [Observation(51.5, {"core": "0"})]],
    unit="Cel",
    description="CPU temperature",
)
meter_provider.force_flush()
meter_provider.shutdown()

# --- logs ------------------------------------------------------------------------------
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(
    SimpleLogRecordProcessor(RecordingLogExporter(endpoint=f"{base}/otlp/v1/logs", headers=headers))
)
handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
log = logging.getLogger("shop.checkout")
log.propagate = False
log.setLevel(logging.INFO)
log.addHandler(handler)
tracer = TracerProvider(resource=resource).get_tracer("shop.checkout")
with tracer.start_as_current_span("checkout") as span:
    context = span.get_span_context()
    print(f"TRACE {context.trace_id:032x} {context.span_id:016x}", flush=True)
    log.warning("payment declined", extra={"order.id": "o-17"})
log.info("order shipped")
logger_provider.shutdown()

for kind, result in results:
    print(f"EXPORTED {kind} {result}", flush=True)
if not results or any(result != "SUCCESS" for _, result in results):
    sys.exit(1)
