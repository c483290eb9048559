"""``moose-trace logs``: the query language, its engines and renderers (see docs/query.md).

Command-line text is parsed once (``language``, ``durations``) into a query AST (``ast``), which
each engine answers: DuckDB over JSON Lines files (``sql`` + ``duckdb_engine``), the trace index
with the Python predicate (``trace_index``, ``python_engine``, ``predicate``), new lines for
``--follow`` (``follow``). Every engine reads events by the same rules (``normalize``) and returns
the same result types (``results``), which ``render`` and ``text`` write for people and tools.

Nothing here needs the SDK's runtime: the tool reads logs, whoever wrote them. Importing this
package loads no optional dependency; DuckDB is imported only by ``duckdb_engine``.
"""
