"""How usage records look on the wire: camelCase, exact decimal cost strings."""

from __future__ import annotations

from typing import Any

from tollgate.core.money import format_usd
from tollgate.store.records import UsageRecord


def record_json(record: UsageRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "createdAt": record.created_at.isoformat().replace("+00:00", "Z"),
        "keyId": record.key_id,
        "provider": record.provider,
        "model": record.model,
        "upstreamModel": record.upstream_model,
        "operation": record.operation,
        "door": record.door,
        "status": record.status,
        "httpStatus": record.http_status,
        "errorCode": record.error_code,
        "stream": record.stream,
        "inputTokens": record.input_tokens,
        "cacheReadTokens": record.cache_read_tokens,
        "cacheWriteTokens": record.cache_write_tokens,
        "outputTokens": record.output_tokens,
        "reasoningTokens": record.reasoning_tokens,
        "totalTokens": record.total_tokens,
        "costUsd": format_usd(record.cost_nanos) if record.cost_nanos is not None else None,
        "costNanos": record.cost_nanos,
        "reportedCostUsd": (
            format_usd(record.reported_cost_nanos) if record.reported_cost_nanos is not None else None
        ),
        "reportedCostNanos": record.reported_cost_nanos,
        "priceSource": record.price_source,
        "priceUnknown": record.price_unknown,
        "estimated": record.estimated,
        "cacheStatus": record.cache_status,
        "latencyMs": record.latency_ms,
        "upstreamLatencyMs": record.upstream_latency_ms,
        "ttfbMs": record.ttfb_ms,
        "tags": {
            "routeName": record.route_name,
            "functionName": record.function_name,
            "feature": record.feature,
        },
        "customerId": record.customer_id,
        "metadata": dict(record.metadata),
    }


def metrics_json(record: UsageRecord, **extra: Any) -> dict[str, Any]:
    """The ``metrics`` object of ``/v1/chat`` and the wrappers."""
    data = record_json(record)
    metrics = {
        "requestId": record.id,
        **{
            k: data[k]
            for k in (
                "provider",
                "model",
                "upstreamModel",
                "status",
                "inputTokens",
                "cacheReadTokens",
                "cacheWriteTokens",
                "outputTokens",
                "reasoningTokens",
                "totalTokens",
                "costUsd",
                "priceSource",
                "priceUnknown",
                "estimated",
                "cacheStatus",
                "latencyMs",
                "ttfbMs",
            )
        },
        "feature": record.feature,
    }
    metrics.update(extra)
    return metrics
