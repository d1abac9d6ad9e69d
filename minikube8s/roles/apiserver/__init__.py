"""The API server role: the Kubernetes v1 core API over the store (aiohttp)."""
