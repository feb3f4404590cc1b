"""Realistic synthetic data for every source table of every sync in the catalog.

Deterministic (same seed, scale and anchor → identical rows), column-wise with numpy and
Arrow, loaded with COPY. Scale 1.0 is the seeds' daily volumes: 100K people (golden
records, profile_360 and the portal's citizens are the same people), 200 schemes, 50K
eligibility snapshots (10K citizens evaluated for 5 schemes each), 50K forecasts, 10K
decisions, 20K alerts, 5K portal applications, 15K documents, 1K feedback and 500K
behaviour events over the previous UTC day. See docs/synthetic-data.md.

Functions for tests, benchmarks and the demo::

    generate(table, n=None, seed=42, *, scale=1.0, anchor=None) -> pyarrow.Table
        The first n rows of a source table (a ``Table`` or "schema.table"); n defaults
        to the table's rows at ``scale``. The first n rows never depend on n.
    iter_batches(...)            the same, as Arrow tables of at most CHUNK_ROWS rows
    rows_at_scale(scale)         {Table: rows} of every source table
    source_tables()              the source tables, warehouse first, in load order
    load(dsn, database, scale=1.0, seed=42, tables=None, *, mode="skip", anchor=None,
         on_progress=None) -> {"schema.table": TableLoad}
        Generate and COPY the source tables of one database; ``dsn`` may point at any
        database migrated with that database's declarations.
    load_all({Database: dsn}, scale, seed, tables=None, ...) -> [TableLoad]
        Both databases from one world (so they share their people).
    table_counts(dsn, database, tables=None) -> {"schema.table": rows}

Modes for existing rows: ``skip`` (default; loading twice writes nothing), ``replace``
(overwrite keys whose values differ), ``truncate`` (empty the table first). The anchor
(default: today's midnight, UTC) is the data set's "now": every timestamp lies before
it and the behaviour events fill the UTC day before it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartsync.devstack.synthetic.generator import (
        CHUNK_ROWS,
        World,
        default_anchor,
        generate,
        iter_batches,
        loaded_columns,
        make_world,
        resolve_table,
        rows_at_scale,
        source_tables,
        unmapped_columns,
    )
    from smartsync.devstack.synthetic.ids import aadhaar_valid, verhoeff_valid
    from smartsync.devstack.synthetic.loader import Mode, TableLoad, load, load_all, table_counts
    from smartsync.devstack.synthetic.vocab import DEFAULT_SEED

# Submodules load on first use: numpy and Arrow stay out of commands that never generate.
_HOME = {
    **dict.fromkeys(
        (
            "CHUNK_ROWS",
            "World",
            "default_anchor",
            "generate",
            "iter_batches",
            "loaded_columns",
            "make_world",
            "resolve_table",
            "rows_at_scale",
            "source_tables",
            "unmapped_columns",
        ),
        "generator",
    ),
    **dict.fromkeys(("aadhaar_valid", "verhoeff_valid"), "ids"),
    **dict.fromkeys(("Mode", "TableLoad", "load", "load_all", "table_counts"), "loader"),
    "DEFAULT_SEED": "vocab",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "CHUNK_ROWS",
    "DEFAULT_SEED",
    "Mode",
    "TableLoad",
    "World",
    "aadhaar_valid",
    "default_anchor",
    "generate",
    "iter_batches",
    "load",
    "load_all",
    "loaded_columns",
    "make_world",
    "resolve_table",
    "rows_at_scale",
    "source_tables",
    "table_counts",
    "unmapped_columns",
    "verhoeff_valid",
]
