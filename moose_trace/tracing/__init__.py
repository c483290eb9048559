"""Tracing: the trace id, the context that carries it, and how it crosses process boundaries.

``ids`` makes and parses UUIDv7 trace ids; ``context`` binds them for the code that runs (and the
log lines it writes); ``propagation`` reads and writes them in HTTP and Kafka headers, with the
W3C formats in ``tracestate`` and ``baggage``; ``otel`` bridges all of it to OpenTelemetry;
``threads`` carries the context into worker threads. Nothing here imports an integration.
"""
