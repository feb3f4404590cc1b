"""Production artifacts rendered from the catalog: Kafka Connect connectors, topics, Kubernetes and compose.

Pure functions from the catalog and a ``DeployParams`` to plain dicts; ``smartsync deploy render``
writes them. Nothing here connects to anything or reads a file.
"""
