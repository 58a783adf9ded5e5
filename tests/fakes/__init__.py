"""Test doubles for Microsoft's cloud: Entra ID's token endpoint and the ingestion webhook."""
