"""Fill a database with N realistic usage records, straight through the store (the scale fixture).

Opens the database with ``open_store``, migrates it, creates one workspace with 50 keys and then
writes the records with ``store.usage.insert_many`` in batches: the path that also keeps the
hourly rollups, so the rate printed is the rate of the real write path (records and rollups in
one transaction), minus the journal. The records look like a busy product's traffic:

- ``--days`` (90) ending at the start of the current hour, busier in working hours (UTC) and on
  weekdays, growing ~40 % over the period, with day-to-day noise;
- 16 models of 6 providers with skewed popularity; ~45 call sites, each a (feature, route,
  function) with a preferred model; 300 customers (a quarter of calls name none); 50 keys;
- ~2 % errors (429s mostly), prompt-cache reads and writes where providers have them,
  log-normal token counts and latencies, reasoning tokens for reasoning models;
- cost in nano-dollars from each model's genai-prices rates (read once per model from
  ``PriceBook``; the sum over a record equals the price book's own answer up to rounding).

Deterministic: record ``i`` depends only on ``--seed`` and ``i`` (and the end hour fixed by the
first run), and its id is derived from them. A re-run continues where the last one stopped
(the workspace's row count), and the insert skips ids already stored, so a crash never double
counts. The fill parameters are kept in the workspace's settings; a run with other parameters
on the same workspace is refused.

    python bench/fill.py --database-url sqlite:///bench/out/fill.db --records 100000
    createdb -h 127.0.0.1 -U postgres tg_bench
    python bench/fill.py --database-url postgresql://postgres@127.0.0.1:5432/tg_bench --records 10000000
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from random import Random
from typing import Any, TextIO

from _common import Picker, base32, bench_workspace_id, report, stable_bits, stable_id, table, zipf
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from tollgate.pricing.prices import PriceBook
from tollgate.pricing.usage import NormalizedUsage
from tollgate.store.migrations import migrate
from tollgate.store.records import GatewayKey, UsageRecord, Workspace
from tollgate.store.repos import Store, open_store
from tollgate.store.schema import rollup_tables

BLOCK = 1000  # records generated from one random stream; a batch is a whole number of blocks
RATE_PROBE_TOKENS = 100_000  # below every long-context price tier
HOUR = 3600

# provider, model, upstream model, popularity, kind, time to first token ms, ms per output token
MODELS: tuple[tuple[str, str, str, float, str, int, float], ...] = (
    ("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", 30, "chat", 350, 6),
    ("anthropic", "claude-haiku-4-5", "claude-haiku-4-5-20251001", 12, "chat", 450, 8),
    ("gemini", "gemini-2.5-flash", "gemini-2.5-flash", 12, "chat", 450, 5),
    ("openai", "gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", 10, "chat", 400, 7),
    ("openai", "text-embedding-3-small", "text-embedding-3-small", 8, "embed", 90, 0),
    ("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", 7, "chat", 900, 18),
    ("openai", "gpt-4o", "gpt-4o-2024-08-06", 5, "chat", 500, 12),
    ("deepseek", "deepseek-chat", "deepseek-chat", 4, "chat", 700, 20),
    ("gemini", "gemini-2.0-flash", "gemini-2.0-flash-001", 3, "chat", 350, 4),
    ("openai", "gpt-4.1", "gpt-4.1-2025-04-14", 2.5, "chat", 550, 12),
    ("openai", "o4-mini", "o4-mini-2025-04-16", 2, "reasoning", 800, 8),
    ("mistral", "mistral-small-latest", "mistral-small-2503", 2, "chat", 350, 7),
    ("gemini", "gemini-2.5-pro", "gemini-2.5-pro", 1.5, "reasoning", 1200, 10),
    ("xai", "grok-4", "grok-4-0709", 0.5, "reasoning", 1500, 15),
    ("mistral", "mistral-large-latest", "mistral-large-2411", 0.5, "chat", 600, 15),
    ("anthropic", "claude-opus-4-1", "claude-opus-4-1-20250805", 0.5, "chat", 1500, 30),
)
CACHING_PROVIDERS = frozenset({"openai", "anthropic", "gemini", "deepseek"})
FEATURES = (
    "chat", "support-reply", "ticket-summary", "doc-qa", "search-embed", "code-review",
    "email-draft", "meeting-notes", "translation", "sentiment", "classification", "extraction",
    "onboarding-bot", "sales-assist", "faq", "product-copy", "seo-meta", "title-suggest",
    "moderation", "spam-filter", "rerank", "query-rewrite", "agent-plan", "agent-step",
    "sql-assist", "report-narrative", "invoice-parse", "resume-screen", "changelog",
    "release-notes", "autocomplete", "voice-transcript-summary", "image-caption", "tagging",
    "dedupe-embed", "recommendation", "churn-insight", "kb-embed", "weekly-summary", "unknown",
)  # fmt: skip
ROUTES = (
    ("/api/chat", "handleChat"), ("/api/support/reply", "draftReply"),
    ("/api/tickets/summarize", "summarizeTicket"), ("/api/docs/ask", "answerQuestion"),
    ("/api/search", "embedQuery"), ("/api/review", "reviewDiff"), ("/api/email/draft", "draftEmail"),
    ("/api/meetings/notes", "summarizeMeeting"), ("/api/translate", "translateText"),
    ("/api/feedback/classify", "classifyFeedback"), ("/api/extract", "extractFields"),
    ("/api/onboarding", "onboardingTurn"), ("/api/sales/assist", "suggestNextStep"),
    ("/api/content/copy", "generateCopy"), ("/api/moderate", "moderateContent"),
    ("/api/rerank", "rerankResults"), ("/api/agent/run", "runAgentStep"), ("/api/sql", "writeSql"),
    ("/api/reports/narrative", "narrateReport"), ("/api/invoices/parse", "parseInvoice"),
    ("/api/hiring/screen", "screenResume"), ("/api/releases/notes", "writeReleaseNotes"),
    ("/api/autocomplete", "complete"), ("/api/voice/summary", "summarizeTranscript"),
    ("/api/images/caption", "captionImage"), ("/api/tags", "suggestTags"),
    ("/api/recommend", "recommend"), ("/api/insights/churn", "explainChurn"),
    ("/api/kb/index", "embedArticle"), ("/jobs/weekly-summary", "weeklySummary"),
)  # fmt: skip
APPS = ("web", "mobile", "support", "search", "agents", "reports", "ingest", "crm", "internal", "batch")
ENVIRONMENTS = ("prod", "staging", "dev", "ci", "eu-prod")
# (http status, share of errors, error code)
ERRORS = (
    (429, 0.5, "rate_limit_exceeded"),
    (400, 0.2, "invalid_request_error"),
    (500, 0.15, "upstream_error"),
    (529, 0.1, "overloaded_error"),
    (504, 0.05, "upstream_timeout"),
)
ERROR_RATE = 0.02
UNTAGGED_ROUTE_RATE = 0.2
NO_CUSTOMER_RATE = 0.25


@dataclass(frozen=True, slots=True)
class Model:
    provider: str
    name: str
    upstream: str
    kind: str
    ttft_ms: int
    ms_per_token: float
    source: str
    # nano-dollars per RATE_PROBE_TOKENS tokens: input, cache read, cache write, output
    rates: tuple[int, int, int, int]

    def cost_nanos(self, uncached: int, read: int, written: int, output: int) -> int:
        r_in, r_read, r_write, r_out = self.rates
        total = uncached * r_in + read * r_read + written * r_write + output * r_out
        return (2 * total + RATE_PROBE_TOKENS) // (2 * RATE_PROBE_TOKENS)  # rounded half up


@dataclass(frozen=True, slots=True)
class CallSite:
    feature: str | None
    route: str | None
    function: str | None
    embedding: bool
    model: int  # preferred model (index into World.models)
    cached_prompt: bool  # a long, stable system prompt: prompt-cache reads


@dataclass(frozen=True, slots=True)
class Params:
    records: int
    days: int
    seed: int
    end_hour: int  # whole hours since the epoch: the fill ends where this hour starts

    def settings(self) -> dict[str, Any]:
        return {"records": self.records, "days": self.days, "seed": self.seed, "endHour": self.end_hour}


def price_models(prices: PriceBook) -> tuple[Model, ...]:
    models = []
    for provider, name, upstream, _, kind, ttft, per_token in MODELS:
        probes = (
            NormalizedUsage(input_tokens=RATE_PROBE_TOKENS),
            NormalizedUsage(cache_read_tokens=RATE_PROBE_TOKENS),
            NormalizedUsage(cache_write_tokens=RATE_PROBE_TOKENS),
            NormalizedUsage(output_tokens=RATE_PROBE_TOKENS),
        )
        costs = [prices.cost(provider, name, usage) for usage in probes]
        if any(cost.nanos is None for cost in costs):
            raise SystemExit(f"genai-prices has no price for {provider}/{name}")
        r_in, r_read, r_write, r_out = (cost.nanos or 0 for cost in costs)
        source = costs[0].source or ""
        models.append(
            Model(provider, name, upstream, kind, ttft, per_token, source, (r_in, r_read, r_write, r_out))
        )
    return tuple(models)


def call_sites(rng: Random, models: Sequence[Model]) -> tuple[CallSite, ...]:
    """~45 call sites: every feature at least once, some from two routes; embedding features use
    the embedding model, the others prefer one chat model picked by popularity."""
    chat = [i for i, m in enumerate(models) if m.kind != "embed"]
    embed = next(i for i, m in enumerate(models) if m.kind == "embed")
    chat_picker = Picker([MODELS[i][3] for i in chat])
    sites = []
    for n in range(45):
        feature = FEATURES[n % len(FEATURES)]
        route, function = (
            ROUTES[(n * 7) % len(ROUTES)] if n < len(ROUTES) else ROUTES[rng.randrange(len(ROUTES))]
        )
        embedding = "embed" in feature
        model = embed if embedding else chat[chat_picker.pick(rng)]
        sites.append(
            CallSite(
                None if feature == "unknown" else feature,
                route,
                function,
                embedding,
                model,
                cached_prompt=not embedding and rng.random() < 0.4,
            )
        )
    return tuple(sites)


def hour_weights(rng: Random, start_hour: int, hours: int) -> list[float]:
    """Traffic per hour: a working-day curve (UTC), quiet weekends, growth and daily noise, and
    one launch day at three times the usual traffic."""
    days = hours // 24 + 1
    noise = [rng.lognormvariate(0.0, 0.08) for _ in range(days)]
    launch = rng.randrange(days // 2, days)
    weights = []
    for n in range(hours):
        moment = datetime.fromtimestamp((start_hour + n) * HOUR, UTC)
        of_day = moment.hour
        curve = (
            0.2 + 0.8 * math.exp(-(((of_day - 15) / 4.5) ** 2)) + 0.3 * math.exp(-(((of_day - 9) / 2.5) ** 2))
        )
        weekday = (1.0, 1.0, 1.0, 1.0, 0.95, 0.45, 0.4)[moment.weekday()]
        day = n // 24
        growth = 0.8 + 0.4 * n / hours
        weights.append(curve * weekday * growth * noise[day] * (3.0 if day == launch else 1.0))
    return weights


class World:
    """Everything fixed by the seed; ``records(block)`` makes one block of records."""

    def __init__(self, params: Params, workspace_id: str, prices: PriceBook) -> None:
        rng = Random(params.seed)
        self.params = params
        self.workspace_id = workspace_id
        self.models = price_models(prices)
        self.model_picker = Picker([m[3] for m in MODELS])
        self.sites = call_sites(rng, self.models)
        self.site_picker = Picker(zipf(len(self.sites), 0.9))
        self.keys = tuple(stable_id("key", params.seed, n) for n in range(len(APPS) * len(ENVIRONMENTS)))
        self.key_picker = Picker(zipf(len(self.keys), 1.1))
        self.customers = tuple(f"cus_{base32(stable_bits(40, params.seed, 'cus', n), 8)}" for n in range(300))
        self.customer_picker = Picker(zipf(len(self.customers), 1.2))
        self.error_picker = Picker([share for _, share, _ in ERRORS])
        hours = params.days * 24
        self.start_hour = params.end_hour - hours
        weights = hour_weights(rng, self.start_hour, hours)
        total = sum(weights)
        running = 0.0
        self.bounds = [0]  # hour n holds records bounds[n] <= i < bounds[n + 1]
        for weight in weights:
            running += weight
            self.bounds.append(round(params.records * running / total))

    def records(self, block: int) -> list[UsageRecord]:
        rng = Random(stable_bits(64, self.params.seed, "block", block))
        first = block * BLOCK
        return [self.record(i, rng) for i in range(first, min(first + BLOCK, self.params.records))]

    def record(self, i: int, rng: Random) -> UsageRecord:
        hour = self.start_hour + bisect.bisect_right(self.bounds, i) - 1
        millis = hour * HOUR * 1000 + int(rng.random() * HOUR * 1000)
        created = datetime.fromtimestamp(millis / 1000, UTC)
        site = self.sites[self.site_picker.pick(rng)]
        if site.embedding or rng.random() < 0.7:
            model = self.models[site.model]
        else:
            model = self.models[self.model_picker.pick(rng)]
            while model.kind == "embed":
                model = self.models[self.model_picker.pick(rng)]
        tagged_route = rng.random() >= UNTAGGED_ROUTE_RATE
        customer = None if rng.random() < NO_CUSTOMER_RATE else self.customers[self.customer_picker.pick(rng)]
        door, operation = _door(model, rng)
        stream = model.kind != "embed" and rng.random() < 0.4
        common: dict[str, Any] = {
            "id": f"req_{base32(millis, 10)}{base32(stable_bits(80, self.params.seed, i), 16)}",
            "workspace_id": self.workspace_id,
            "key_id": self.keys[self.key_picker.pick(rng)],
            "created_at": created,
            "provider": model.provider,
            "model": model.name,
            "operation": operation,
            "door": door,
            "stream": stream,
            "price_source": model.source,
            "route_name": site.route if tagged_route else None,
            "function_name": site.function if tagged_route else None,
            "feature": site.feature,
            "customer_id": customer,
        }
        if rng.random() < ERROR_RATE:
            status, _, code = ERRORS[self.error_picker.pick(rng)]
            latency = int(rng.lognormvariate(math.log(model.ttft_ms / 3 + 40), 0.6))
            return UsageRecord(
                **common,
                upstream_model=None,
                status="error",
                http_status=status,
                error_code=code,
                cost_nanos=0,
                latency_ms=latency,
                upstream_latency_ms=max(0, latency - 4),
            )
        return self._success(model, site, common, stream, rng)

    def _success(
        self, model: Model, site: CallSite, common: dict[str, Any], stream: bool, rng: Random
    ) -> UsageRecord:
        embed = model.kind == "embed"
        prompt = _clamp(rng.lognormvariate(math.log(300 if embed else 900), 1.0), 3, 120_000)
        output = 0 if embed else _clamp(rng.lognormvariate(math.log(220), 0.9), 1, 8_000)
        reasoning = (
            _clamp(rng.lognormvariate(math.log(800), 0.9), 0, 30_000) if model.kind == "reasoning" else 0
        )
        output += reasoning
        read = written = 0
        if site.cached_prompt and model.provider in CACHING_PROVIDERS and prompt > 1024:
            cached = int(prompt * rng.uniform(0.5, 0.9))
            if rng.random() < 0.6:
                read = cached
            elif model.provider == "anthropic":
                written = cached
        uncached = prompt - read - written
        first = rng.lognormvariate(math.log(model.ttft_ms), 0.35) + (prompt * 0.02 if embed else 0)
        latency = int(first + output * model.ms_per_token * rng.lognormvariate(0.0, 0.25))
        return UsageRecord(
            **common,
            upstream_model=model.upstream,
            status="success",
            http_status=200,
            input_tokens=uncached,
            cache_read_tokens=read,
            cache_write_tokens=written,
            output_tokens=output,
            reasoning_tokens=reasoning,
            cost_nanos=model.cost_nanos(uncached, read, written, output),
            latency_ms=latency,
            upstream_latency_ms=max(0, latency - rng.randrange(2, 12)),
            ttfb_ms=int(first) if stream else None,
        )


def _clamp(value: float, low: int, high: int) -> int:
    return max(low, min(high, int(value)))


def _door(model: Model, rng: Random) -> tuple[str, str]:
    """Which door a call came through, and the operation it made."""
    if model.kind == "embed":
        return ("openai", "embeddings") if rng.random() < 0.8 else ("proxy", "embeddings")
    roll = rng.random()
    if model.provider == "anthropic":
        door = "anthropic" if roll < 0.6 else "proxy" if roll < 0.8 else "chat"
        return door, "messages" if door != "chat" else "chat"
    door = "openai" if roll < 0.6 else "proxy" if roll < 0.75 else "chat" if roll < 0.88 else "ingest"
    if door == "proxy" and model.provider == "gemini":
        return door, "generate"
    return door, "responses" if door == "openai" and roll < 0.08 else "chat"


async def prepare(store: Store, params: Params) -> tuple[str, int]:
    """The workspace (created with its keys on the first run) and the end hour to use."""
    workspace_id = bench_workspace_id(params.seed)
    existing = await store.workspaces.get(workspace_id)
    if existing is not None:
        stored = dict(existing.settings.get("benchFill") or {})
        wanted = params.settings() | {"endHour": stored.get("endHour")}
        if stored != wanted:
            raise SystemExit(f"workspace {workspace_id} was filled with {stored}; this run wants {wanted}")
        return workspace_id, int(stored["endHour"])
    created = datetime.fromtimestamp((params.end_hour - params.days * 24 - 24) * HOUR, UTC)
    # retentionDays above the fill's span: the server's pruner must not delete rows mid-benchmark.
    settings = {"timeZone": "UTC", "retentionDays": 3650, "benchFill": params.settings()}
    await store.workspaces.create(
        Workspace(workspace_id, f"bench (seed {params.seed})", created, created, settings)
    )
    for n in range(len(APPS) * len(ENVIRONMENTS)):
        name = f"{APPS[n % len(APPS)]}-{ENVIRONMENTS[n // len(APPS)]}"
        await store.keys.create(
            GatewayKey(
                id=stable_id("key", params.seed, n),
                workspace_id=workspace_id,
                name=name,
                key_hash=f"{stable_bits(256, params.seed, 'key hash', n):064x}",
                preview=f"{n:04d}",
                scopes=("proxy", "ingest", "read"),
                status="active",
                created_at=created,
                updated_at=created,
            )
        )
    return workspace_id, params.end_hour


async def fill(store: Store, params: Params, batch: int, log: TextIO) -> tuple[int, float]:
    workspace_id, end_hour = await prepare(store, params)
    params = Params(params.records, params.days, params.seed, end_hour)
    world = World(params, workspace_id, PriceBook())
    done = await store.usage.count(workspace_id)
    first_block = done // BLOCK
    blocks = math.ceil(params.records / BLOCK)
    per_batch = batch // BLOCK
    started = last_log = time.monotonic()
    inserted = 0
    for block in range(first_block, blocks, per_batch):
        records = [r for b in range(block, min(block + per_batch, blocks)) for r in world.records(b)]
        records.sort(key=lambda r: r.created_at)
        inserted += await store.usage.insert_many(records)
        now = time.monotonic()
        if now - last_log >= 10:
            last_log = now
            position = min((block + per_batch) * BLOCK, params.records)
            rate = inserted / (now - started)
            left = (params.records - position) / rate if rate else float("inf")
            log.write(
                f"{position:>12,} / {params.records:,}  {rate:,.0f} records/s  ~{left / 60:.0f} min left\n"
            )
            log.flush()
    return inserted, time.monotonic() - started


async def counts(store: Store, workspace_id: str) -> list[tuple[str, int]]:
    rows = [("usage_records", await store.usage.count(workspace_id))]
    async with store.engine.connect() as conn:
        for table in rollup_tables.values():
            query = select(func.count()).select_from(table).where(table.c.workspace_id == workspace_id)
            rows.append((table.name, int((await conn.execute(query)).scalar_one())))
    return rows


async def sizes(store: Store, url: str) -> list[tuple[str, str]]:
    if store.dialect == "sqlite":
        path = Path(make_url(url).database or "")
        files = [path, path.with_name(path.name + "-wal")]
        return [(str(f), _gb(f.stat().st_size)) for f in files if f.exists()]
    async with store.engine.connect() as conn:
        total = (await conn.execute(text("SELECT pg_database_size(current_database())"))).scalar_one()
        tables = []
        for name in ("usage_records", *(table.name for table in rollup_tables.values())):
            query = text("SELECT pg_total_relation_size(CAST(:name AS regclass))")
            size = (await conn.execute(query, {"name": name})).scalar_one()
            tables.append((f"{name} (with indexes)", _gb(int(size))))
    return [("database", _gb(int(total))), *tables]


def _gb(size: int) -> str:
    return f"{size / 1e9:.2f} GB"


async def main(args: argparse.Namespace) -> None:
    if args.batch % BLOCK:
        raise SystemExit(f"--batch must be a multiple of {BLOCK}")
    store = await open_store(args.database_url)
    try:
        await migrate(store.engine)
        end_hour = int(datetime.now(UTC).timestamp()) // HOUR
        params = Params(args.records, args.days, args.seed, end_hour)
        inserted, seconds = await fill(store, params, args.batch, sys.stderr)
        workspace_id = bench_workspace_id(args.seed)
        rate = inserted / seconds if seconds else 0.0
        lines = [
            f"fill {store.dialect}: {inserted:,} records inserted in {seconds:,.0f} s "
            f"= {rate:,.0f} records/s (batch {args.batch}, seed {args.seed}, workspace {workspace_id})",
            table(["table", "rows"], [(name, f"{n:,}") for name, n in await counts(store, workspace_id)]),
            table(["storage", "size"], await sizes(store, args.database_url)),
        ]
        report("\n".join(lines) + "\n", "fill")
    finally:
        await store.close()


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="sqlite:///path or postgresql://...")
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--batch", type=int, default=5000, help=f"records per transaction (a multiple of {BLOCK})"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
