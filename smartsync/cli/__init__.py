"""The operator's command line: ``smartsync``. Parses and renders; the logic lives elsewhere."""
