"""smart_warehouse → smart_citizen: eligibility hints (top 5), decisions, profile summary and
profile data (event halves of hybrid syncs), forecasts and ML alerts from callbacks. Masked.

Run: ``python -m bytewax.run "dataflows.warehouse_to_citizen:flow()" -w 2 -r DIR -s 5 -b 0``.
"""

from __future__ import annotations

from bytewax.dataflow import Dataflow

from dataflows.startup import flow_process
from smartsync.core.catalog import Direction


def flow(*, tail: bool = True) -> Dataflow:
    """Build the dataflow (reads settings and runs the start-up checks now, not at import)."""
    return flow_process(Direction.WAREHOUSE_TO_CITIZEN, tail=tail)
