"""Shell completion helpers for the CLI's arguments (typer ``autocompletion=`` callbacks).

``minikube8s --install-completion`` (typer's) installs the shell hook; these callbacks offer
resource type names (``pods``, ``rc``, ``minions``...) from minikube8s/api/resources.py, so
completion works without a running API server.
"""

from __future__ import annotations

from ..api import resources


def resource_names() -> list[str]:
    names: list[str] = []
    for r in resources.ALL:
        for n in (r.name, r.singular_name, *r.short_names, *r.aliases):
            if n not in names:
                names.append(n)
    return sorted(names)


def complete_resource(incomplete: str) -> list[str]:
    """Complete the last comma-separated element of ``pods,r`` or a ``TYPE/`` prefix."""
    head, sep, last = incomplete.rpartition(",")
    prefix = head + sep
    return [prefix + n for n in resource_names() if n.startswith(last.lower())]


def complete_output(incomplete: str) -> list[str]:
    return [o for o in ("wide", "yaml", "json", "name", "jsonpath=") if o.startswith(incomplete)]
