"""The ``moose-trace`` command line: one module per subcommand, on top of every other layer.

``main`` is the entry point and wires the subcommands together; ``logs``, ``ingest``,
``prune``, ``serve`` and ``demo`` each parse their arguments, call the layer below, render the
result and map errors to exit codes. Nothing below imports this package.
"""
