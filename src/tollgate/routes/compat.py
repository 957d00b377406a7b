"""Shared by the SDK-compatible doors: run a JSON request for one operation, add metrics.

A door names two steps: ``resolve`` finds the provider and upstream model for the body's
``model``; ``route`` says where the call goes: natively (the body forwarded in the provider's own
format) or through the hub (``routes/translated``), in which case the answer is rewritten into
the door's format on the way back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tollgate.core import jsonx
from tollgate.core.errors import BadRequest, TollgateError
from tollgate.gateway.call import GatewayCall, Outcome, StreamTranslator
from tollgate.providers.base import Operation
from tollgate.providers.registry import ProviderSpec, provider_for_model, resolve_provider
from tollgate.providers.translate.targets import target_for
from tollgate.routes.doors import ErrorRenderer, fail, header_tags, new_call, outcome_response, run
from tollgate.routes.http import bearer_or_key, parse_json_object, read_body
from tollgate.routes.present import metrics_json
from tollgate.routes.translated import Answer, DoorSide, Translation, native_error
from tollgate.routes.wiring import context_of, gateway_of, settings_of

# Client headers a native call forwards upstream (never for a translated one).
FORWARDED = frozenset({"anthropic-version", "anthropic-beta", "openai-organization", "openai-project"})
TAG_KEYS = ("feature", "customerId")


@dataclass(frozen=True, slots=True)
class Incoming:
    """One door request, after its provider is known."""

    body: dict[str, Any]
    spec: ProviderSpec
    model: str  # the upstream model (any provider prefix removed)
    request_id: str
    created: int  # unix seconds


@dataclass(frozen=True, slots=True)
class Plan:
    """Where the call goes. ``translation`` is None for a native call."""

    path: str
    operation: Operation
    body: dict[str, Any]
    stream: bool
    query: str = ""
    translation: Translation | None = None
    # A native call whose provider is not the door's own (Claude on Bedrock): its stream is
    # re-framed for the door by ``translator``, its error answers are rendered in the door's shape,
    # and the client's provider headers are not forwarded.
    translator: StreamTranslator | None = None
    foreign: bool = False


# (request body, model) -> (provider, model to send upstream)
Resolver = Callable[[dict[str, Any], str], tuple[ProviderSpec, str]]
Router = Callable[[Incoming], Plan]


def native(path: str, operation: Operation) -> Router:
    """A router that forwards the body as it is (``model`` already set to the upstream model)."""

    def route(incoming: Incoming) -> Plan:
        return Plan(path, operation, incoming.body, incoming.body.get("stream") is True)

    return route


def through_hub(door: DoorSide, incoming: Incoming) -> Plan:
    """Translate the body into the target's format; the answer comes back in the door's."""
    hub = door.to_hub(incoming.body, incoming.model)
    answer_id = f"{door.id_prefix}{incoming.request_id}"
    target = target_for(incoming.spec, incoming.model, response_id=answer_id)
    call = target.native(hub)  # a 400 naming any feature the target cannot honour
    translation = Translation(door, target, hub, Answer(answer_id, incoming.model, incoming.created))
    return Plan(call.path, call.operation, call.body, hub.stream, call.query, translation)


def resolve_model(model: str, default: ProviderSpec) -> tuple[ProviderSpec, str]:
    """``<provider>/<model>``, or a plain name that belongs to one provider, else ``default``."""
    prefix, slash, rest = model.partition("/")
    spec = resolve_provider(prefix) if slash else None
    if spec is None:
        return provider_for_model(model) or default, model
    return spec, rest


def _take_tags(body: dict[str, Any]) -> dict[str, Any] | None:
    """tollgate's own keys in ``metadata`` are tags, not provider fields: take them out of the body.

    (Anthropic accepts only ``user_id`` in ``metadata``; OpenAI limits its keys and values.)
    """
    metadata = body.get("metadata")
    if not isinstance(metadata, dict) or not any(k in metadata for k in TAG_KEYS):
        return None
    tags = {k: metadata[k] for k in TAG_KEYS if k in metadata}
    rest = {k: v for k, v in metadata.items() if k not in TAG_KEYS}
    if rest:
        body["metadata"] = rest
    else:
        del body["metadata"]
    return tags


async def compat_door(
    request: Request,
    *,
    door: str,
    resolve: Resolver,
    route: Router,
    render: ErrorRenderer,
    operation: Operation,
) -> Response:
    gateway = gateway_of(request)
    started = gateway.now()
    try:
        key = await gateway.authenticate(bearer_or_key(request), "proxy")
    except TollgateError as exc:
        return render(exc)
    call: GatewayCall = new_call(gateway, request, door=door, key=key, started=started, operation=operation)
    try:
        body = parse_json_object(await read_body(request, settings_of(request).max_body_bytes))
        model = body.get("model")
        if not isinstance(model, str) or not model.strip():
            raise BadRequest("model is required", code="invalid_model")
        call.model = model
        tags = _take_tags(body)
        call.spec, call.model = resolve(body, model)
        body["model"] = call.model
        created = int(context_of(request).clock.now().timestamp())
        plan = route(Incoming(body, call.spec, call.model, call.request_id, created))
    except TollgateError as exc:
        return fail(gateway, call, exc, render)
    call.path, call.query, call.operation, call.body, call.stream = (
        plan.path, plan.query, plan.operation, plan.body, plan.stream
    )  # fmt: skip
    if plan.translation is None and not plan.foreign:
        call.forward_headers = [(n, v) for n, v in request.headers.items() if n in FORWARDED]
    if plan.translator is not None and plan.stream:
        call.translator = plan.translator
    elif plan.translation is not None and plan.stream:
        call.translator = plan.translation.stream()
    call.tags = header_tags(request, None, tags)
    outcome = await run(gateway, call, render)
    if isinstance(outcome, Response):
        return outcome
    return _answer(plan, call, outcome, render)


def _answer(plan: Plan, call: GatewayCall, outcome: Outcome, render: ErrorRenderer) -> Response:
    """The door's response for the upstream's answer."""
    if outcome.chunks is not None:
        return outcome_response(outcome)
    if plan.translation is not None:
        try:
            answer = plan.translation.body(outcome.status, outcome.parsed, outcome.body)
        except TollgateError as exc:
            return _refused(outcome, render(exc))
        return _with_metrics(outcome, answer)
    if plan.foreign and outcome.status >= 400:
        error = native_error(call.spec.id, outcome.status, outcome.parsed, outcome.body)
        return _refused(outcome, render(error))
    if isinstance(outcome.parsed, dict) and outcome.status < 400 and call.operation is not Operation.OTHER:
        return _with_metrics(outcome, outcome.parsed, raw=outcome.body)
    return outcome_response(outcome)


def _with_metrics(outcome: Outcome, answer: dict[str, Any], raw: bytes | None = None) -> Response:
    """The answer with tollgate's metrics in the body and a header (seed 002's wrappers).

    ``raw``: the answer's bytes as they came; the metrics are then spliced in before its closing
    brace rather than the whole answer serialised again."""
    if outcome.record is None or outcome.status >= 400:
        return outcome_response(outcome, body=raw if raw is not None else jsonx.dumps(answer))
    fields = metrics_json(outcome.record)
    encoded = jsonx.dumps(fields)
    # Seed 002's wrappers return the metrics under ``killtoken`` and in a header; both names work.
    header = encoded.decode()
    extra = [("x-tollgate-metrics", header), ("x-killtoken-metrics", header)]
    body = _spliced(raw, answer, b'{"metrics":' + encoded + b"}") if raw is not None else None
    if body is None:
        metrics = {"metrics": fields}
        body = jsonx.dumps({**answer, "tollgate": metrics, "killtoken": metrics})
    return outcome_response(outcome, body=body, extra=extra)


def _spliced(raw: bytes, answer: dict[str, Any], metrics: bytes) -> bytes | None:
    """``raw`` (a JSON object) with ``"tollgate"`` and ``"killtoken"`` added before its closing
    brace; None when that cannot be done by splicing (an empty object, or one that already has
    either key, whose value must be replaced)."""
    if not answer or "tollgate" in answer or "killtoken" in answer:
        return None
    body = raw.rstrip()
    if not body.endswith(b"}"):
        return None
    return b"".join((body[:-1], b',"tollgate":', metrics, b',"killtoken":', metrics, b"}"))


def _refused(outcome: Outcome, response: Response) -> Response:
    """A provider's error answer rendered by the door: keep tollgate's headers and Retry-After."""
    for name, value in outcome.headers:
        if name.startswith("x-tollgate-") or (name == "retry-after" and name not in response.headers):
            response.headers.append(name, value)
    return response
