"""HTTP chat under load: ``POST /v1/chat`` (one JSON answer) at concurrency 16 with the rules model.

The server is the real app (``server.app.create_app``) under uvicorn in a subprocess, on a
free loopback port and a scratch JIDOKA_HOME holding a copy of the demo plant; the load is
httpx async clients in this process, each request a new thread, bearer tokens minted for
several demo users. Requests are bounded in number and time.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from evals.bench.figures import BenchContext, BenchFigure, SectionUnavailable
from evals.bench.stats import percentile

__all__ = ["CONCURRENCY", "LOAD", "ChatLoad", "chat_figures", "run_load", "wait_ready"]

CONCURRENCY = 16
LOAD: dict[str, tuple[str, ...]] = {
    "pat.planner": ("Which items are below reorder point at Aurora?", "which purchase orders are overdue?"),
    "paz.planner": ("How much stock of CP-2039 do we have?", "which work orders are at risk in the next 7 days?"),
    "bea.buyer": ("which purchase orders are overdue?", "what is on order for CP-2039?"),
    "quinn.quality": ("any seal leak defects this month?", "Where is lot LOT-P100-0529 located?"),
    "sam.supervisor": ("which work orders are at risk in the next 7 days?", "How much stock of FG-1001 do we have?"),
    "fay.finance": ("which purchase orders are overdue?", "what is on order for RM-3001?"),
    "eve.exec": ("How much stock of FG-1001 do we have?", "which purchase orders are overdue?"),
    "max.maint": ("which machines are at risk of breaking down?", "How much stock of FG-1001 do we have?"),
}
"""Demo users the load runs as, with the read questions each asks in turn."""

_SECRET = "jidoka-bench-secret-not-for-production-0123456789"


@dataclass(frozen=True)
class ChatLoad:
    """What one load run measured."""

    turns_per_s: float
    p50_ms: float
    p99_ms: float
    ok: int
    errors: int
    requests: int
    wall_s: float
    statuses: dict[int, int]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(process: subprocess.Popen[bytes], base: str, log: IO[bytes], log_path: Path, timeout_s: float) -> None:
    """Wait until the server at ``base`` answers ``/readyz`` 200; :class:`RuntimeError` with the tail of its log
    when it exits first or is not ready within ``timeout_s``."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            log.flush()
            tail = log_path.read_text(errors="replace")[-600:]
            raise RuntimeError(f"the server exited with {process.returncode}: {tail}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server was not ready within {timeout_s:.0f} s")
        time.sleep(0.2)


@contextmanager
def serve(home: Path, *, timeout_s: float = 60.0) -> Iterator[str]:
    """Run the app under uvicorn in a subprocess on a free loopback port; yield its base URL."""

    port = _free_port()
    env = {**os.environ, "JIDOKA_HOME": str(home), "JIDOKA_MODEL": "rules", "JIDOKA_JWT_SECRET": _SECRET,
           "JIDOKA_RATE_LIMIT_PER_MIN": "100000"}
    for name in ("JIDOKA_DATA_URL", "JIDOKA_STATE_URL", "JIDOKA_POLICY_DIR", "JIDOKA_JWKS_URL"):
        env.pop(name, None)
    log = (home / "uvicorn.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "evals.bench._chat_server:app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(home))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, base, log, home / "uvicorn.log", timeout_s)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def _load(base: str, tokens: dict[str, str], requests: int, concurrency: int,
                timeout_s: float) -> tuple[list[float], dict[int, int], float]:
    import httpx

    users = sorted(tokens)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(requests))
    deadline = time.monotonic() + timeout_s

    async def worker(client: httpx.AsyncClient) -> None:
        for i in counter:
            if time.monotonic() > deadline:
                return
            user = users[i % len(users)]
            questions = LOAD[user]
            body = {"message": questions[(i // len(users)) % len(questions)]}
            headers = {"Authorization": f"Bearer {tokens[user]}", "Accept": "application/json"}
            start = time.perf_counter()
            try:
                response = await client.post(f"{base}/v1/chat", json=body, headers=headers)
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            if status == 200:
                latencies.append((time.perf_counter() - start) * 1000)
            statuses[status] = statuses.get(status, 0) + 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120.0, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return latencies, statuses, wall


def run_load(base: str, tokens: dict[str, str], *, requests: int, concurrency: int = CONCURRENCY,
             timeout_s: float = 300.0) -> ChatLoad:
    """Send ``requests`` chat turns with ``concurrency`` clients in flight; throughput and latency of the 200s."""
    latencies, statuses, wall = asyncio.run(_load(base, tokens, requests, concurrency, timeout_s))
    ok = len(latencies)
    sent = sum(statuses.values())
    if not ok:
        raise RuntimeError(f"no chat turn succeeded (status counts {statuses})")
    return ChatLoad(turns_per_s=ok / wall, p50_ms=percentile(latencies, 50), p99_ms=percentile(latencies, 99),
                    ok=ok, errors=sent - ok, requests=sent, wall_s=wall, statuses=statuses)


def chat_figures(ctx: BenchContext) -> list[BenchFigure]:
    """``chat_turns_per_s`` and ``chat_p99_ms`` (plus p50) over HTTP at concurrency 16."""
    try:
        import httpx  # noqa: F401
        import uvicorn  # noqa: F401

        from server.api.auth import mint_demo_token
        from server.app import create_app  # noqa: F401 - the server must be importable here too
    except ImportError as exc:
        raise SectionUnavailable(f"the HTTP server is not importable ({exc})") from None
    from evals.bench.plant import demo_home
    from guardrails.policy.loader import load_policy

    policy = load_policy()
    tokens = {user: mint_demo_token(_SECRET, policy.user(user)) for user in LOAD}
    home = demo_home(ctx.tmp, ctx.runtimes().settings.today)
    requests, warmup = (32, CONCURRENCY) if ctx.quick else (480, CONCURRENCY * 2)
    with serve(home) as base:
        ctx.progress("server up; warming up")
        run_load(base, tokens, requests=warmup)  # lexicon, caches, connections, SQLite pages
        ctx.progress(f"{requests} turns at concurrency {CONCURRENCY}")
        load = run_load(base, tokens, requests=requests)
    cond = (f"{load.requests} POST /v1/chat (Accept: application/json, each a new thread) by {CONCURRENCY} concurrent "
            f"httpx async clients as {len(LOAD)} demo users with HS256 bearer tokens; rules model; one uvicorn "
            f"process (subprocess, loopback) on a scratch JIDOKA_HOME with the seed-7 plant, SQLite state; rate "
            f"limit raised for the run; {load.ok} answered 200, {load.errors} other ({load.statuses}); "
            f"wall {load.wall_s:.1f} s after {warmup} warm-up turns; client and server share the machine")
    return [
        BenchFigure("chat_turns_per_s", load.turns_per_s, "turns/s", "", cond),
        BenchFigure("chat_p99_ms", load.p99_ms, "ms", "", cond),
        BenchFigure("chat_p50_ms", load.p50_ms, "ms", "", cond),
    ]
