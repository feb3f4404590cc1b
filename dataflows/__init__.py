"""Event path: one Bytewax dataflow per direction (factories; nothing runs at import)."""
