"""The ClickHouse writer: the table (``schema``), the transports, the spool and the sink.

- ``transport``: one interface to run SQL (``connect``), with ``chdb_transport`` and
  ``http_transport`` over ``transport_base``; failures are ``error_codes.ClickHouseError``.
- ``sink``: ``ClickHouseSink``, composed of its ``backlog`` (what waits, and where), the
  ``batcher`` and ``inserter`` threads under ``supervision``, ``refusals`` (bad rows set aside),
  ``spool`` and ``wal`` on disk, ``lines`` (each event as one JSON line), ``diagnostics`` (its
  own warnings) and the process-wide ``shutdown``.
- ``schema`` (the table's DDL) and ``url`` (locations without leaking credentials).

The public face of ClickHouse, with the query engine beside the writer, is
``moose_trace.clickhouse``.
"""
