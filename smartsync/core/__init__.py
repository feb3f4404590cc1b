"""The foundation: the sync catalog, table declarations, settings, errors and schema DDL.

Everything else imports it; it imports nothing of SmartSync above it.
"""
