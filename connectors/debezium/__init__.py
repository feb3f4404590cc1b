"""Debezium: the change-event envelope and the PostgreSQL connector configuration."""
