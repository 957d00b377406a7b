"""``tollgate serve --demo``: a workspace, a key and provider credentials wired to the simulator.

Every start re-points the demo credentials at the simulator's current address and rotates
the demo key, so the printed key always works and no earlier one does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tollgate.providers.registry import ProviderSpec, resolve_provider
from tollgate.routes.wiring import AppContext
from tollgate.testing import Simulator
from tollgate.testing._bedrock import bedrock_credential
from tollgate.testing._providers import vertex_token_uri
from tollgate.testing._vertex_account import vertex_credential

DEMO_WORKSPACE = "demo"
DEMO_KEY = "demo"
DEMO_PROVIDER_KEY = "sk-demo-not-a-real-key"


@dataclass(frozen=True, slots=True)
class Demo:
    workspace_id: str
    raw_key: str


AZURE_API_VERSION = "2024-10-21"


def simulator_credentials(simulator: Simulator, root: str, api_key: str) -> list[dict[str, Any]]:
    """Credential bodies for every simulated provider this version of the gateway serves."""
    bodies = []
    for segment in simulator.providers:
        spec = resolve_provider(segment)
        if spec is not None:
            bodies.append(simulator_credential(spec, segment, simulator.base_url(segment, root), api_key))
    return bodies


def simulator_credential(spec: ProviderSpec, name: str, base_url: str, api_key: str) -> dict[str, Any]:
    """The credential body for one simulated provider (``name`` is how the simulator calls it)."""
    if spec.id == "google_vertex":  # a service account (a fixed, public test key), not an apiKey
        return vertex_credential(name, base_url, vertex_token_uri(base_url))
    if spec.id == "aws_bedrock":  # a SigV4 secrets bundle the simulator checks signatures with
        return bedrock_credential(name, base_url)
    if spec.id == "azure_openai":
        config = {"endpoint": base_url, "apiVersion": AZURE_API_VERSION}
        return {"provider": name, "apiKey": api_key, "config": config}
    return {"provider": name, "apiKey": api_key, "config": {"baseUrl": base_url}}


async def prepare_demo(ctx: AppContext, simulator: Simulator, simulator_root: str) -> Demo:
    workspaces, _ = await ctx.workspaces.list(200, None)
    workspace = next((w for w in workspaces if w.settings.get("demo") is True), None)
    if workspace is None:
        workspace = await ctx.workspaces.create(DEMO_WORKSPACE, {"demo": True})
    for body in simulator_credentials(simulator, simulator_root, DEMO_PROVIDER_KEY):
        provider = body["provider"]
        existing = await ctx.credentials.list(workspace.id, provider)
        if existing:
            await ctx.credentials.update(workspace.id, existing[0].id, body)
        else:
            await ctx.credentials.create(workspace.id, body)
    keys = [k for k in await ctx.keys.list(workspace.id) if k.name == DEMO_KEY and k.status != "revoked"]
    if keys:
        minted = await ctx.keys.rotate(workspace.id, keys[0].id)
    else:
        minted = await ctx.keys.create(workspace.id, name=DEMO_KEY)
    return Demo(workspace.id, minted.raw)


def demo_instructions(base_url: str, demo: Demo) -> str:
    return f"""
tollgate demo is running: calls go to the built-in provider simulator, no provider key needed.

  Gateway key:  {demo.raw_key}
  Workspace:    {demo.workspace_id}

Make a tracked call:

  curl -s {base_url}/v1/chat/completions \\
    -H "Authorization: Bearer {demo.raw_key}" -H "Content-Type: application/json" \\
    -d '{{"model": "gpt-4o-mini", "messages": [{{"role": "user", "content": "Hello!"}}]}}'

Or from Python (pip install openai):

  from openai import OpenAI
  client = OpenAI(base_url="{base_url}/v1", api_key="{demo.raw_key}")
  reply = client.chat.completions.create(
      model="gpt-4o-mini", messages=[{{"role": "user", "content": "Hello!"}}]
  )
  print(reply.choices[0].message.content)

Then see it, with its exact cost:

  curl -s {base_url}/v1/requests -H "Authorization: Bearer {demo.raw_key}"
"""
