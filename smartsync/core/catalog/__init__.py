"""The sync catalog: every sync of the seeds, declared once and validated at load time.

Dataflows, batch jobs, the scheduler, the stack (publications, topics), metrics and reports
all read ``load_catalog()``. A table name, topic or partition count written anywhere else
is a bug. The catalog is checked against the table declarations in ``smartsync.core.tables``:
unknown tables or columns, keys that are not the target's primary key, partition counts
below one, a lossy mask on a key, a citizen-bound column without a masking classification,
and cycles of syncs that would echo a change back to where it came from are all refused
with a message naming the sync and the field.

- ``enums``: the vocabulary (directions, patterns, triggers, modes, mask rules);
- ``models``: the frozen pydantic models, ``Catalog`` at their head;
- ``validation``: the rules a catalog must pass;
- ``declared``: SmartSync's own syncs, ``build_catalog`` and ``load_catalog``.

Each name is imported from its module when first read (``smartsync.core.lazy``): the enums
alone do not load pydantic.
"""

from typing import TYPE_CHECKING

from smartsync.core.lazy import lazy_exports

if TYPE_CHECKING:
    from smartsync.core.catalog.declared import build_catalog, load_catalog
    from smartsync.core.catalog.enums import BatchMode, DerivedValue, Direction, EventMode, MaskRule, Pattern, Trigger
    from smartsync.core.catalog.models import Catalog, Col, MaintenanceWindow, Schedule, Sync, Topic, TopN
    from smartsync.core.catalog.validation import validate_catalog

_HOMES = {
    **dict.fromkeys(("build_catalog", "load_catalog"), "declared"),
    **dict.fromkeys(("BatchMode", "DerivedValue", "Direction", "EventMode", "MaskRule", "Pattern", "Trigger"), "enums"),
    **dict.fromkeys(("Catalog", "Col", "MaintenanceWindow", "Schedule", "Sync", "Topic", "TopN"), "models"),
    "validate_catalog": "validation",
}
__getattr__ = lazy_exports(__name__, _HOMES)

__all__ = [
    "BatchMode",
    "Catalog",
    "Col",
    "DerivedValue",
    "Direction",
    "EventMode",
    "MaintenanceWindow",
    "MaskRule",
    "Pattern",
    "Schedule",
    "Sync",
    "TopN",
    "Topic",
    "Trigger",
    "build_catalog",
    "load_catalog",
    "validate_catalog",
]
