"""Developer tooling: the local stack on loopback, synthetic data and the demo. Never used in production."""
