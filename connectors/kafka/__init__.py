"""Kafka: client configuration, topics, the flows' source and the dead-letter topics."""
