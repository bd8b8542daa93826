"""Scale-out under load: ``jidoka serve --workers N`` on Postgres and a Chroma server, checked afterwards.

A run builds fresh databases on the Postgres server (a copy of a demo-plant template and an empty state
database brought to the schema by ``upgrade_schema``), ingests the demo corpus into the Chroma server, starts the
real CLI (``jidoka serve --workers N``) on a free loopback port and sends mixed chat turns from eight demo users —
read questions, document questions and quality-hold requests — at a fixed concurrency. Each hold request is
approved by two eligible approvers at the same moment while the load goes on (one wins, one gets 409).

Afterwards the databases are read directly: no 5xx, one audited prompt per chat turn sent, the audit chain
verifies, and every approved request executed exactly once (one ledger row, status ``executed``).
The services come from ``JIDOKA_TEST_PG_URL`` (a superuser URL; databases are created and dropped) and
``JIDOKA_TEST_CHROMA_URL`` — what ``.ci/with-services`` exports.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.bench._procs import stop
from evals.bench.chat import LOAD, _free_port, wait_ready
from evals.bench.stats import percentile

__all__ = ["ScaleRun", "ScaleServices", "admin_sql", "database_url", "drop_database", "ingest_corpus",
           "plant_template", "run_scale"]

_SECRET = "jidoka-scale-secret-not-for-production-0123456789"
_DOC_QUESTIONS = {"quinn.quality": "what does the quality hold procedure say about seal defects?",
                  "sam.supervisor": "what is the procedure for releasing a held lot?"}
_APPROVERS = ("quinn.quality", "sam.supervisor")
"""Both may approve a P100 quality hold (one approver group): approving at once, exactly one wins."""


@dataclass(frozen=True)
class ScaleServices:
    """The shared engines a scale run uses."""

    pg_admin_url: str
    chroma_url: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ScaleServices | None:
        """The services ``.ci/with-services`` exported, or ``None`` when they are not running."""
        source = os.environ if env is None else env
        pg, chroma = source.get("JIDOKA_TEST_PG_URL"), source.get("JIDOKA_TEST_CHROMA_URL")
        return cls(pg, chroma) if pg and chroma else None


@dataclass
class ScaleRun:
    """What one run sent, measured and found in the databases afterwards."""

    workers: int
    chat_sent: int = 0
    chat_latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    wall_s: float = 0.0
    requests: list[str] = field(default_factory=list)
    """Approval request ids the hold turns created."""
    approval_pairs: list[tuple[int, int]] = field(default_factory=list)
    """Statuses of the two simultaneous approvals of each request."""
    prompt_events: int = 0
    chain_ok: bool = False
    chain_reason: str = ""
    executed_once: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def turns_per_s(self) -> float:
        """Chat turns answered 200 per second of wall time."""
        return len(self.chat_latencies_ms) / self.wall_s if self.wall_s else 0.0

    @property
    def p99_ms(self) -> float:
        """99th percentile latency of the chat turns answered 200."""
        return percentile(self.chat_latencies_ms, 99) if self.chat_latencies_ms else 0.0

    @property
    def server_errors(self) -> int:
        """Responses with a 5xx status, plus requests that got no response at all."""
        return sum(n for s, n in self.statuses.items() if s >= 500 or s == 0)


def admin_sql(url: str, sql: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE) on the server ``url`` names."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def database_url(admin_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``admin_url`` (same user and password)."""
    from sqlalchemy.engine import make_url

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def plant_template(admin_url: str, *, seed: int, today: Any, manifest_dir: Path) -> str:
    """Build the demo plant in a new database (at the schema) to copy per run; returns its name."""
    from server.schema import upgrade_plant
    from tools.demo import build_plant
    from tools.plant.db import make_engine

    name = f"jidoka_scale_tmpl_{uuid.uuid4().hex[:8]}"
    admin_sql(admin_url, f'CREATE DATABASE "{name}"')
    engine = make_engine(database_url(admin_url, name))
    try:
        build_plant(engine, seed=seed, today=today, manifest_dir=manifest_dir)
        upgrade_plant(engine)
    finally:
        engine.dispose()
    return name


def ingest_corpus(chroma_url: str, home: Path) -> None:
    """Ingest the demo documents into the Chroma server (``jidoka knowledge ingest``; unchanged ones are skipped)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIDOKA_")}
    env.update(JIDOKA_HOME=str(home), JIDOKA_CHROMA_URL=chroma_url, OPENBLAS_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", "from server.cli import main; main()", "knowledge", "ingest"],
                          env=env, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ingesting the demo corpus into {chroma_url} failed: {done.stderr[-400:]}")


def drop_database(admin_url: str, name: str) -> None:
    """Drop a database the run made (its connections are cut)."""
    admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _holdable_lots(plant_url: str, count: int) -> list[str]:
    from sqlalchemy import text

    from tools.plant.db import make_engine

    engine = make_engine(plant_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT DISTINCT l.lot_id FROM lots l JOIN inventory i ON i.lot_id = l.lot_id WHERE l.site_id = "
                "'P100' AND l.status = 'available' AND i.stock_status = 'unrestricted' AND i.qty_on_hand > 0 "
                "ORDER BY l.lot_id")).all()
    finally:
        engine.dispose()
    if len(rows) < count:
        raise RuntimeError(f"the plant has {len(rows)} holdable P100 lots, the run needs {count}")
    return [str(r[0]) for r in rows[:count]]


def _turns(total: int, lots: list[str], seed: int = 7) -> list[tuple[str, str, bool]]:
    """``total`` chat turns ``(user, message, is_hold)``: one hold per lot, the rest read and document questions."""
    users = sorted(LOAD)
    reads: list[tuple[str, str, bool]] = []
    for i in range(total - len(lots)):
        user = users[i % len(users)]
        options = (*LOAD[user], *((_DOC_QUESTIONS[user],) if user in _DOC_QUESTIONS else ()))
        reads.append((user, options[(i // len(users)) % len(options)], False))
    holds = [("pat.planner", f"Please hold lot {lot} while quality investigates the seal jaws.", True)
             for lot in lots]
    turns = reads + holds
    random.Random(seed).shuffle(turns)
    return turns


@contextmanager
def serve_workers(env: dict[str, str], home: Path, workers: int, *, timeout_s: float = 120.0) -> Iterator[str]:
    """``jidoka serve --workers N`` (the real CLI) in a subprocess on a free loopback port; yields its base URL."""

    port = _free_port()
    log = (home / f"serve-{workers}w.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", "from server.cli import main; main()", "serve", "--host", "127.0.0.1", "--port",
         str(port), "--workers", str(workers)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(home))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, base, log, home / f"serve-{workers}w.log", timeout_s)
        yield base
    finally:
        stop(process, 20)
        log.close()


async def _load(base: str, tokens: dict[str, str], turns: list[tuple[str, str, bool]], concurrency: int,
                run: ScaleRun) -> None:
    import httpx

    queue = iter(turns)
    approvals: list[asyncio.Task[None]] = []

    async def post(client: httpx.AsyncClient, path: str, user: str, body: dict[str, Any]) -> httpx.Response | None:
        headers = {"Authorization": f"Bearer {tokens[user]}", "Accept": "application/json"}
        try:
            return await client.post(f"{base}{path}", json=body, headers=headers)
        except httpx.HTTPError:
            return None

    async def approve_at_once(client: httpx.AsyncClient, request_id: str) -> None:
        answers = await asyncio.gather(*(post(client, f"/v1/approvals/{request_id}/approve", who, {})
                                         for who in _APPROVERS))
        codes = [a.status_code if a is not None else 0 for a in answers]
        run.approval_pairs.append((codes[0], codes[1]))
        for code in codes:
            run.statuses[code] = run.statuses.get(code, 0) + 1

    async def worker(client: httpx.AsyncClient) -> None:
        for user, message, is_hold in queue:
            started = time.perf_counter()
            response = await post(client, "/v1/chat", user, {"message": message})
            run.chat_sent += 1
            code = response.status_code if response is not None else 0
            run.statuses[code] = run.statuses.get(code, 0) + 1
            if code != 200 or response is None:
                continue
            run.chat_latencies_ms.append((time.perf_counter() - started) * 1000)
            if is_hold:
                pending = [a["id"] for a in response.json().get("approvals", []) if a.get("status") == "pending"]
                if len(pending) != 1:
                    run.problems.append(f"{message!r} created {len(pending)} pending requests")
                for request_id in pending:
                    run.requests.append(request_id)
                    approvals.append(asyncio.create_task(approve_at_once(client, request_id)))

    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
    async with httpx.AsyncClient(timeout=180.0, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        run.wall_s = time.perf_counter() - started
        await asyncio.gather(*approvals)


def _check(run: ScaleRun, state_url: str, plant_url: str, *, earlier_turns: int = 0) -> None:
    """Read the databases: prompts audited (``earlier_turns`` were sent before the run), chain intact, each
    approved request executed exactly once."""
    from sqlalchemy import text

    from guardrails.audit.log import AuditLog
    from tools.plant.db import make_engine

    state, plant = make_engine(state_url), make_engine(plant_url)
    try:
        with state.connect() as conn:
            run.prompt_events = int(conn.execute(text(
                "SELECT COUNT(*) FROM audit_events WHERE kind = 'prompt'")).scalar_one())
            statuses: dict[str, str] = {str(r[0]): str(r[1]) for r in conn.execute(text(
                "SELECT id, status FROM approval_requests")).all()}
        report = AuditLog(state).verify()
        run.chain_ok, run.chain_reason = report.ok, report.reason or ""
        with plant.connect() as conn:
            ledger = conn.execute(text("SELECT request_id, COUNT(*) FROM action_executions GROUP BY request_id")).all()
        executions = {str(r[0]): int(r[1]) for r in ledger}
    finally:
        state.dispose()
        plant.dispose()
    for request_id in run.requests:
        if statuses.get(request_id) == "executed" and executions.get(request_id) == 1:
            run.executed_once += 1
        else:
            run.problems.append(f"{request_id}: status {statuses.get(request_id)}, "
                                f"{executions.get(request_id, 0)} executions")
    for pair in run.approval_pairs:
        if sorted(pair) != [200, 409]:
            run.problems.append(f"two approvals at once answered {pair}, expected one 200 and one 409")
    run.prompt_events -= earlier_turns
    if run.prompt_events != run.chat_sent:
        run.problems.append(f"{run.prompt_events} prompt events audited for {run.chat_sent} chat turns sent")
    if not run.chain_ok:
        run.problems.append(f"audit verify: {run.chain_reason}")
    if run.server_errors:
        run.problems.append(f"{run.server_errors} responses were 5xx or missing ({run.statuses})")


def run_scale(services: ScaleServices, template: str, home: Path, *, workers: int, turns: int, holds: int,
              concurrency: int = 16, warmup: int = 0) -> ScaleRun:
    """One run on fresh databases (a copy of ``template`` and an empty state database, both dropped after)."""
    from guardrails.policy.loader import load_policy
    from server.api.auth import mint_demo_token
    from server.schema import upgrade_state
    from tools.plant.db import make_engine

    home.mkdir(parents=True, exist_ok=True)
    plant_db, state_db = f"jidoka_scale_p_{uuid.uuid4().hex[:8]}", f"jidoka_scale_s_{uuid.uuid4().hex[:8]}"
    admin_sql(services.pg_admin_url, f'CREATE DATABASE "{plant_db}" TEMPLATE "{template}"')
    admin_sql(services.pg_admin_url, f'CREATE DATABASE "{state_db}"')
    plant_url, state_url = database_url(services.pg_admin_url, plant_db), database_url(services.pg_admin_url, state_db)
    try:
        state = make_engine(state_url)
        upgrade_state(state, state_url)
        state.dispose()
        env = {k: v for k, v in os.environ.items() if not k.startswith("JIDOKA_")}
        env.update(JIDOKA_HOME=str(home), JIDOKA_DATA_URL=plant_url, JIDOKA_STATE_URL=state_url,
                   JIDOKA_CHROMA_URL=services.chroma_url, JIDOKA_JWT_SECRET=_SECRET, JIDOKA_MODEL="rules",
                   JIDOKA_RATE_LIMIT_PER_MIN="100000", OPENBLAS_NUM_THREADS="1")
        policy = load_policy()
        tokens = {u: mint_demo_token(_SECRET, policy.user(u)) for u in {*LOAD, *_APPROVERS}}
        run, warm = ScaleRun(workers=workers), ScaleRun(workers=workers)
        with serve_workers(env, home, workers) as base:
            if warmup:  # lexicons, caches and connections of every worker; its turns are audited too
                asyncio.run(_load(base, tokens, _turns(warmup, []), concurrency, warm))
            asyncio.run(_load(base, tokens, _turns(turns, _holdable_lots(plant_url, holds)), concurrency, run))
        _check(run, state_url, plant_url, earlier_turns=warm.chat_sent)
        return run
    finally:
        drop_database(services.pg_admin_url, plant_db)
        drop_database(services.pg_admin_url, state_db)


def scale_figures(ctx: Any) -> list[Any]:
    """``scale_turns_per_s`` and ``scale_p99_ms`` with 1 and 2 workers on Postgres + a Chroma server, in one run;
    a run whose checks fail raises (its figures are then null with the problems as the reason)."""
    from evals.bench.figures import BenchFigure, SectionUnavailable

    services = ScaleServices.from_env()
    if services is None:
        raise SectionUnavailable("needs Postgres and a Chroma server: run `.ci/with-services jidoka bench --only "
                                 "scale` (it exports JIDOKA_TEST_PG_URL and JIDOKA_TEST_CHROMA_URL)")
    turns, holds = (200, 10) if ctx.quick else (1000, 50)
    template = plant_template(services.pg_admin_url, seed=7, today=ctx.runtimes().settings.today,
                              manifest_dir=ctx.tmp)
    figures: list[BenchFigure] = []
    try:
        ctx.progress("ingesting the demo corpus into the Chroma server")
        ingest_corpus(services.chroma_url, ctx.tmp / "ingest")
        for workers in (1, 2):
            ctx.progress(f"{turns} turns ({holds} holds approved twice at once) with {workers} worker(s)")
            run = run_scale(services, template, ctx.tmp / f"w{workers}", workers=workers, turns=turns,
                            holds=holds, warmup=32)
            if run.problems:
                raise RuntimeError(f"{workers} worker(s): " + "; ".join(run.problems[:5]))
            cond = (f"jidoka serve --workers {workers} on Postgres (loopback, fresh databases) + a Chroma server; "
                    f"{run.chat_sent} POST /v1/chat by 16 concurrent clients as {len(LOAD)} users (reads, document "
                    f"questions, {holds} quality-hold requests, each approved by two approvers at once during the "
                    f"load) after 32 warm-up turns; checked after: 0 5xx, {run.prompt_events} prompts audited, chain "
                    f"verified, {run.executed_once}/{holds} approved requests executed exactly once; client, "
                    "servers and databases share the machine")
            figures += [BenchFigure(f"scale_turns_per_s_{workers}w", run.turns_per_s, "turns/s", "", cond),
                        BenchFigure(f"scale_p99_ms_{workers}w", run.p99_ms, "ms", "", cond)]
    finally:
        drop_database(services.pg_admin_url, template)
    return figures
