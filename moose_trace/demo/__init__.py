"""``moose-trace demo``: a real pipeline end to end, and the user stories proven on its logs.

``run_demo(DemoOptions(...))`` does what the command does; the parts live in their modules:
``app`` (the ingest app), ``pipeline`` (transforms, sync, workflow), ``workload`` (the stories'
situations), ``infra`` (deployments), ``table`` (the OLAP engine), ``processes`` (start and stop),
``progress`` (the live view), ``stories`` (the commands shown at the end). Importing this package
loads none of the optional dependencies.
"""

from __future__ import annotations

from moose_trace.demo.exceptions import DemoError
from moose_trace.demo.runner import DemoOptions, run_demo

__all__ = ["DemoError", "DemoOptions", "run_demo"]
