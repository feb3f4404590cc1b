"""The local stack: databases migrated, CDC wired from the catalog, idempotent start."""

from __future__ import annotations

import psycopg
from confluent_kafka.admin import AdminClient

from connectors.kafka import config as kafka_config
from smartsync.core.catalog import load_catalog
from smartsync.core.schema import HEARTBEAT_TABLE, PUBLICATION, migrate
from smartsync.core.tables import SCHEMA, Database
from smartsync.devstack import localstack
from smartsync.devstack.localstack import StackState


def test_every_declared_table_exists_with_its_primary_key(stack: StackState) -> None:
    for db in Database:
        with psycopg.connect(stack.dsn(db)) as conn:
            for table in SCHEMA.in_database(db):
                cols = [
                    r[0]
                    for r in conn.execute(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                        (table.schema, table.name),
                    )
                ]
                assert cols == list(table.column_names), table.qualified_name
                pk = conn.execute(
                    "SELECT array_agg(a.attname ORDER BY array_position(i.indkey, a.attnum)) FROM pg_index i "
                    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                    "WHERE i.indrelid = %s::regclass AND i.indisprimary",
                    (table.qualified_name,),
                ).fetchone()
                assert pk is not None
                assert tuple(pk[0]) == table.primary_key, table.qualified_name


def test_captured_tables_have_full_replica_identity_and_are_published(stack: StackState) -> None:
    catalog = load_catalog()
    for db in Database:
        with psycopg.connect(stack.dsn(db)) as conn:
            published = {
                f"{s}.{t}"
                for s, t in conn.execute(
                    "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s", (PUBLICATION,)
                )
            }
            assert published == {*catalog.captured_tables(db), HEARTBEAT_TABLE}
            for name in catalog.captured_tables(db):
                identity = conn.execute(
                    "SELECT relreplident FROM pg_class WHERE oid = %s::regclass", (name,)
                ).fetchone()
                assert identity == ("f",), name


def test_migration_is_idempotent(stack: StackState) -> None:
    catalog = load_catalog()
    for db in Database:
        migrate(stack.dsn(db), db, catalog)
        migrate(stack.dsn(db), db, catalog)


def test_topics_have_the_catalog_partition_counts(stack: StackState) -> None:
    topics = AdminClient(kafka_config.admin_config(stack.bootstrap)).list_topics(timeout=10).topics
    for topic in load_catalog().topics():
        assert topic.name in topics
        assert len(topics[topic.name].partitions) == topic.partitions, topic.name


def test_up_on_a_running_stack_is_a_no_op(stack: StackState) -> None:
    again = localstack.up()
    assert again == stack
    assert all(part.running for part in localstack.status())


def test_sentinel_change_travels_to_kafka(stack: StackState) -> None:
    assert localstack.wait_for_sentinel(stack, load_catalog(), timeout=30) < 30


def test_replication_slots_are_ours_and_active(stack: StackState) -> None:
    with psycopg.connect(stack.dsn("postgres")) as conn:
        slots = dict(conn.execute("SELECT slot_name, active FROM pg_replication_slots").fetchall())
    assert slots == {"smartsync_warehouse": True, "smartsync_citizen": True}
