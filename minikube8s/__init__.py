"""minikube8s: a small, real Kubernetes (the seed's v0.17 cluster) in one asyncio executable."""

__version__ = "0.1.0"
