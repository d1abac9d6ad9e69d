"""The scheduler role (issue 4): started by roles.run_node through ``start(ctx)``."""

from __future__ import annotations

from ..context import RoleContext


async def start(ctx: RoleContext) -> None:
    """Ask ctx.informers for what this role watches and start its tasks under ctx.supervisor."""
    return None
