"""Masking policy: pure functions applied to every value that reaches smart_citizen."""
