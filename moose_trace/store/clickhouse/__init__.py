"""The ClickHouse writer: the table (``schema``), the transports, the spool and the sink.

The public face of ClickHouse, with the query engine beside the writer, is
``moose_trace.clickhouse``.
"""
