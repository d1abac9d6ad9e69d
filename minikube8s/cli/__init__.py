"""The bundled kubectl-like CLI (``minikube8s get pods,rc``): verbs, printers, kubeconfig.

``register(app)`` adds the verbs to the ``minikube8s`` typer app (see app.py); it imports
lazily so that importing ``minikube8s.cli.kubeconfig`` (the API server does, to write the admin
kubeconfig) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer


def register(app: typer.Typer) -> None:
    from .app import register as _register

    _register(app)
