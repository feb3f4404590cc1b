"""smart_citizen → smart_warehouse: profile updates into golden records, application events
(one row per submission, status change or withdrawal), document metadata.

Run: ``python -m bytewax.run "dataflows.citizen_to_warehouse:flow()" -w 2 -r DIR -s 5 -b 0``.
"""

from __future__ import annotations

from bytewax.dataflow import Dataflow

from dataflows.startup import flow_process
from smartsync.core.catalog import Direction


def flow(*, tail: bool = True) -> Dataflow:
    """Build the dataflow (reads settings and runs the start-up checks now, not at import)."""
    return flow_process(Direction.CITIZEN_TO_WAREHOUSE, tail=tail)
