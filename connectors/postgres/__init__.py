"""PostgreSQL: the order-safe, idempotent apply of row changes shared by both paths."""
