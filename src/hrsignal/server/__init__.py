"""The self-hosted connector service: Entra-compatible identity, connectors, ingestion, logs.

``create_app(settings)`` builds the FastAPI application; ``hrsignal serve`` runs it with
uvicorn. See docs/server.md.
"""

from hrsignal.server.app import create_app
from hrsignal.server.settings import DEFAULT_RESOURCES, Settings

__all__ = ["DEFAULT_RESOURCES", "Settings", "create_app"]
