"""The edges: Debezium envelopes, Kafka, the PostgreSQL sink, the HTTP callback service."""
