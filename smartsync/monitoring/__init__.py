"""Monitoring as code: alert rules and dashboards rendered from the catalog."""
