"""Who is calling the management API, and on which workspace.

- The bootstrap token (``TOLLGATE_ADMIN_TOKEN``) is a superuser; it names its workspace in the
  ``x-tollgate-workspace`` header.
- A gateway key acts on its own workspace, with the scopes it holds (``admin`` to manage,
  ``read`` to read requests).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request

from tollgate.core.errors import BadRequest, Forbidden, NotFound
from tollgate.routes.http import bearer_or_key
from tollgate.routes.wiring import context_of
from tollgate.store.records import GatewayKey


@dataclass(frozen=True, slots=True)
class Principal:
    superuser: bool
    key: GatewayKey | None
    workspace_header: str | None

    def allows(self, scope: str) -> bool:
        return self.superuser or (self.key is not None and scope in self.key.scopes)


async def principal(request: Request) -> Principal:
    ctx = context_of(request)
    raw = bearer_or_key(request)
    header = request.headers.get("x-tollgate-workspace")
    admin = ctx.settings.admin_token
    # Read the change feed first, for every caller: with shared state unreachable a change is
    # refused (503) before anything is written, never stored without the others hearing of it.
    await ctx.state.ensure_fresh()
    if raw and admin and hmac.compare_digest(raw.encode(), admin.encode()):
        return Principal(True, None, header)
    key = ctx.state.authenticate(raw)
    return Principal(False, key, header)


async def workspace_for(request: Request, who: Principal, scope: str) -> str:
    """The workspace a call acts on, after checking the caller may act there with ``scope``."""
    if not who.allows(scope):
        raise Forbidden(f"this key does not have the {scope} scope", code="insufficient_scope")
    if who.key is not None:
        if who.workspace_header and who.workspace_header != who.key.workspace_id:
            raise Forbidden("a gateway key acts only on its own workspace", code="wrong_workspace")
        return who.key.workspace_id
    if not who.workspace_header:
        raise BadRequest("name the workspace in the x-tollgate-workspace header", code="workspace_required")
    ctx = context_of(request)
    if await ctx.store.workspaces.get(who.workspace_header) is None:
        raise NotFound(f"workspace {who.workspace_header} not found", code="workspace_not_found")
    return who.workspace_header


def require_superuser(who: Principal) -> None:
    if not who.superuser:
        raise Forbidden("this call needs the admin token", code="admin_token_required")
