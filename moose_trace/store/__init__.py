"""The write side of the log stores: retention, and the ClickHouse writer.

``retention`` is the one per-level policy both stores keep (the ClickHouse TTL, ``moose-trace
prune`` on the files); ``clickhouse`` writes log events into a ClickHouse table. This layer
imports only the core (``tracing``, ``logging``): the query tool reads what it wrote.
"""
