"""SmartSync: keeps smart_warehouse and smart_citizen in sync, both directions."""

__version__ = "0.1.0"
