"""Logging: the structlog chain that turns a call into one JSON line, and where the line goes.

``config`` sets the chain and its outputs up (``configure_logging``); ``processors`` are the
chain's steps (trace fields, redaction, error fields), ``redaction`` hides secrets before any
output sees them, ``caller`` and ``resource`` add where and for whom, ``paths`` names the default
log directory that ``moose-trace logs`` reads. The fast path that writes a line without the full
chain lives in the private ``_bound_logger`` and ``_fast_line`` modules.
"""
