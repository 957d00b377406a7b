"""The one pipeline behind every door.

authenticate -> check the key's scope and restrictions -> admit (rate limits, quota, budget
holds; a refusal is not recorded) -> resolve the credential (strict BYOK: nothing else happens
without one) -> call upstream -> meter -> record (which settles the admission) -> hand back an
``Outcome`` for the door to format. No database access happens here: keys, credentials, prices,
limits and budgets come from ``LiveState``; the record leaves through the journal.
"""

from __future__ import annotations

from tollgate.core import jsonx
from tollgate.core.clock import Clock
from tollgate.core.errors import Forbidden, TollgateError, UpstreamError
from tollgate.core.ids import IdFactory
from tollgate.core.money import format_usd
from tollgate.gateway.admission import Admission
from tollgate.gateway.authorize import Authorizer
from tollgate.gateway.call import GatewayCall, Outcome, StreamState
from tollgate.gateway.estimate import estimate_usage
from tollgate.gateway.metrics import GatewayMetrics
from tollgate.gateway.prepare import build_upstream_request, inject_stream_usage, wants_stream_usage_injection
from tollgate.gateway.recorder import Finish, Recorder, Timing
from tollgate.gateway.rejections import RejectedCredentials
from tollgate.gateway.relay import Relay
from tollgate.gateway.upstream import Transport, UpstreamResponse
from tollgate.providers.base import MeterResult, Operation
from tollgate.providers.error_codes import stated_code, upstream_error_code
from tollgate.providers.eventstream import CONTENT_TYPE as EVENT_STREAM_TYPE
from tollgate.providers.usage import meter_body
from tollgate.services.state import LiveState
from tollgate.store.records import GatewayKey, UsageRecord

# Upstream headers that describe the native body, dropped when a door rewrites it.
_NATIVE_BODY_HEADERS = frozenset({"content-type", "content-length", "content-encoding"})


def tollgate_headers(
    request_id: str, record: UsageRecord | None, cache: str = "bypass"
) -> list[tuple[str, str]]:
    headers = [("x-tollgate-request-id", request_id), ("x-tollgate-cache", cache)]
    if record is not None:
        if record.cost_nanos is not None:
            headers.append(("x-tollgate-cost", format_usd(record.cost_nanos)))
        headers.append(("x-tollgate-tokens", str(record.total_tokens)))
    return headers


class Gateway:
    def __init__(
        self,
        state: LiveState,
        transport: Transport,
        recorder: Recorder,
        clock: Clock,
        ids: IdFactory,
        metrics: GatewayMetrics,
        admission: Admission | None = None,
        rejections: RejectedCredentials | None = None,
    ) -> None:
        self.state = state
        self._admission = admission
        self._rejections = rejections
        self.authorizer = Authorizer(transport, clock)
        self._recorder = recorder
        self._clock = clock
        self._ids = ids
        self._metrics = metrics

    def new_request_id(self) -> str:
        return self._ids.new("req")

    def now(self) -> float:
        return self._clock.monotonic()

    async def authenticate(self, raw_key: str | None, scope: str) -> GatewayKey:
        await self.state.ensure_fresh()
        key = self.state.authenticate(raw_key)
        if scope not in key.scopes:
            raise Forbidden(f"this key does not have the {scope} scope", code="insufficient_scope")
        return key

    def record_failure(self, call: GatewayCall, error: TollgateError) -> UsageRecord:
        """Record a call that failed before or at the upstream request."""
        finish = Finish(status="error", http_status=error.http_status, error_code=error.code)
        return self._recorder.record(call, finish, Timing())

    def _check_restrictions(self, call: GatewayCall) -> None:
        key = call.key
        if key.allowed_providers is not None and call.spec.id not in key.allowed_providers:
            raise Forbidden(f"this key may not call {call.spec.id}", code="provider_not_allowed")
        if key.allowed_models is not None and call.model not in key.allowed_models:
            raise Forbidden(f"this key may not call model {call.model!r}", code="model_not_allowed")

    async def execute(self, call: GatewayCall) -> Outcome:
        """Run the call. Errors before a response are recorded, then raised for the door to render."""
        timing = Timing()
        try:
            self._check_restrictions(call)
        except TollgateError as exc:
            self.record_failure(call, exc)
            raise
        if self._admission is not None:
            call.ticket = await self._admission.admit(call)
        try:
            credential = self.state.credential(call.workspace_id, call.spec, call.credential_name)
            if wants_stream_usage_injection(call):
                inject_stream_usage(call)
            request = build_upstream_request(call, credential)
            timing.upstream_started = self._clock.monotonic()
            response = await self.authorizer.send(request, credential)
            timing.upstream_first_byte = self._clock.monotonic()
        except TollgateError as exc:
            if isinstance(exc, UpstreamError):
                self._metrics.upstream_errors.labels(call.spec.id, exc.code).inc()
            self.record_failure(call, exc)
            raise
        self._metrics.upstream_ttfb.labels(call.spec.id).observe(
            timing.upstream_first_byte - timing.upstream_started
        )
        if response.status >= 400:
            self._metrics.upstream_errors.labels(call.spec.id, f"http_{response.status}").inc()
            if response.status == 401 and self._rejections is not None:
                self._rejections.rejected(credential.credential, response.status, call.request_id)
        content_type = next((v for k, v in response.headers if k == "content-type"), "application/json")
        request_bytes = len(request.body or b"")
        if "text/event-stream" in content_type or (call.stream and response.status < 400):
            return self._streamed(call, response, timing, content_type, request_bytes)
        return await self._buffered(call, response, timing, content_type, request_bytes)

    def _streamed(
        self,
        call: GatewayCall,
        response: UpstreamResponse,
        timing: Timing,
        content_type: str,
        request_bytes: int,
    ) -> Outcome:
        state = StreamState()
        relay = Relay(call, response, self._recorder, timing, state, self._clock.monotonic, request_bytes)
        if "text/event-stream" in content_type:
            chunks = relay.sse()
        elif EVENT_STREAM_TYPE in content_type:
            chunks = relay.eventstream()  # Bedrock's binary frames
        else:
            chunks = relay.raw()
        headers = response.headers
        if call.translator is not None:
            content_type = call.translator.content_type
            headers = [(k, v) for k, v in headers if k not in _NATIVE_BODY_HEADERS]
            headers.append(("content-type", content_type))
        return Outcome(
            status=response.status,
            headers=[*headers, *tollgate_headers(call.request_id, None), *_limit_headers(call)],
            content_type=content_type,
            chunks=chunks,
            state=state,
        )

    async def _buffered(
        self,
        call: GatewayCall,
        response: UpstreamResponse,
        timing: Timing,
        content_type: str,
        request_bytes: int,
    ) -> Outcome:
        try:
            body = await response.read()
        except TollgateError as exc:
            self._metrics.upstream_errors.labels(call.spec.id, exc.code).inc()
            self.record_failure(call, exc)
            raise
        timing.upstream_done = self._clock.monotonic()
        parsed = None
        meter = None
        if body:
            try:
                parsed = jsonx.loads(body)
            except jsonx.JSONDecodeError:
                parsed = None
        if parsed is not None:
            meter = meter_body(call.spec.id, call.operation, parsed)
        ok = response.status < 400
        estimate = None
        if ok and call.operation is not Operation.OTHER and (meter is None or meter.usage is None):
            # A successful answer whose usage is missing or unreadable was still billed.
            generates = call.operation is not Operation.EMBEDDINGS
            estimate = estimate_usage(request_bytes, len(body), generates=generates)
        status, http_status, error_code = _buffered_status(call, response, parsed, meter)
        if status == "success" and call.client_gone is not None and await call.client_gone():
            status, http_status = "client_closed", 499
        finish = Finish(
            status=status,
            http_status=http_status,
            meter=meter,
            error_code=error_code,
            estimate=estimate,
        )
        record = self._recorder.record(call, finish, timing)
        return Outcome(
            status=response.status,
            headers=[*response.headers, *tollgate_headers(call.request_id, record), *_limit_headers(call)],
            content_type=content_type,
            body=body,
            parsed=parsed,
            record=record,
        )


def _limit_headers(call: GatewayCall) -> tuple[tuple[str, str], ...]:
    return call.ticket.headers if call.ticket is not None else ()


def _buffered_status(
    call: GatewayCall, response: UpstreamResponse, parsed: object, meter: MeterResult | None
) -> tuple[str, int, str | None]:
    """(status, HTTP status, error code) of a whole answer. An error answer is coded as the provider
    states it (``ValidationException``, ``rate_limit_error``), else ``upstream_{status}``; a 2xx
    whose body says the generation failed (an error object, a finish reason such as Gemini's
    ``MALFORMED_FUNCTION_CALL``) is a 502, as a stream that ends so is. Other calls (a failed
    fine-tuning job read back, say) describe an error without being one."""
    if response.status >= 400:
        code = upstream_error_code(call.spec.family, parsed, response.headers)
        return "error", response.status, code or f"upstream_{response.status}"
    if call.operation is not Operation.OTHER and meter is not None and meter.error is not None:
        return "error", 502, stated_code(meter.error) or "upstream_error_body"
    return "success", response.status, None
