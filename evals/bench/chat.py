"""HTTP chat under load: ``POST /v1/chat`` (one JSON answer) at concurrency 16 with the rules model.

The server is the real app (``server.app.create_app``) under uvicorn in a subprocess, on a
free loopback port and a scratch JIDOKA_HOME holding a copy of the demo plant; the load is
httpx async clients in this process, each request a new thread, bearer tokens minted for
several demo users. Requests are bounded in number and time. The same load runs against one
worker and then against two (``uvicorn --workers 2``, what ``jidoka serve --workers 2`` runs);
the CPU the server's processes and the load's process spend are read apart (``/proc`` and
``time.process_time``), and so is each worker's resident memory.
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

from evals.bench import _procs
from evals.bench._procs import ProcessTree, stop
from evals.bench.figures import BenchContext, BenchFigure, SectionUnavailable
from evals.bench.stats import percentile

__all__ = ["CONCURRENCY", "LOAD", "ChatLoad", "MeasuredLoad", "Served", "chat_figures", "chroma_server", "measure_load",
           "run_load", "serve", "wait_ready"]

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


def _upgrade_state(home: Path) -> None:
    """Bring the home's state database to the schema first (what ``jidoka init`` / ``jidoka db upgrade`` leave
    behind): workers starting together on a fresh SQLite file would race to create its tables."""
    from server.schema import upgrade_state
    from tools import make_engine

    url = f"sqlite:///{home / 'state.db'}"
    engine = make_engine(url)
    try:
        upgrade_state(engine, url)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Served:
    """A running server: where it answers and its processes (the uvicorn process and any workers it spawned)."""

    base: str
    processes: ProcessTree
    workers: int


@contextmanager
def serve(home: Path, *, workers: int = 1, env: dict[str, str] | None = None,
          timeout_s: float = 60.0) -> Iterator[Served]:
    """Run the app under uvicorn (``workers`` processes) in a subprocess on a free loopback port; ``env`` is added
    to the server's environment."""

    port = _free_port()
    server_env = {**os.environ, "JIDOKA_HOME": str(home), "JIDOKA_MODEL": "rules", "JIDOKA_JWT_SECRET": _SECRET,
                  "JIDOKA_RATE_LIMIT_PER_MIN": "100000"}
    for name in ("JIDOKA_DATA_URL", "JIDOKA_STATE_URL", "JIDOKA_POLICY_DIR", "JIDOKA_JWKS_URL", "JIDOKA_CHROMA_URL"):
        server_env.pop(name, None)
    server_env.update(env or {})
    if workers > 1:
        _upgrade_state(home)
    log_path = home / f"uvicorn-{workers}w.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "evals.bench._chat_server:app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log", "--workers", str(workers)],
        env=server_env, stdout=log, stderr=subprocess.STDOUT, cwd=str(home))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, base, log, log_path, timeout_s)
        yield Served(base, ProcessTree(process.pid), workers)
    finally:
        stop(process, 20)
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


@dataclass(frozen=True)
class MeasuredLoad:
    """A load run with the CPU both sides spent on it and the workers' memory before and after."""

    load: ChatLoad
    server_cpu_ms_per_turn: float | None
    """CPU of every server process over the run ÷ turns answered (``None`` without ``/proc``)."""
    client_cpu_ms_per_turn: float
    """CPU of this (the load's) process over the run ÷ turns answered."""
    rss_before_mib: tuple[float, ...]
    rss_after_mib: tuple[float, ...]


def measure_load(served: Served, tokens: dict[str, str], *, requests: int,
                 concurrency: int = CONCURRENCY) -> MeasuredLoad:
    """:func:`run_load` with the server's CPU (its processes, read from ``/proc``) and the client's (this process,
    all threads) measured apart over the run."""
    on_proc = _procs.available()
    before = served.processes.sample() if on_proc else None
    client_start = time.process_time()
    load = run_load(served.base, tokens, requests=requests, concurrency=concurrency)
    client_s = time.process_time() - client_start
    after = served.processes.sample() if on_proc else None
    server = (after.cpu_s - before.cpu_s) * 1000 / load.ok if before and after else None
    return MeasuredLoad(load, server, client_s * 1000 / load.ok, before.worker_rss_mib if before else (),
                        after.worker_rss_mib if after else ())


@contextmanager
def chroma_server(tmp: Path, *, timeout_s: float = 60.0) -> Iterator[str]:
    """A Chroma server's URL: ``JIDOKA_TEST_CHROMA_URL`` when set, else a ``chroma run`` on loopback for the block
    (``jidoka serve --workers N`` needs one for N > 1: the embedded store is for one process)."""
    given = os.environ.get("JIDOKA_TEST_CHROMA_URL", "").strip()
    if given:
        yield given
        return
    import httpx

    chroma = Path(sys.executable).with_name("chroma")
    if not chroma.is_file():
        raise SectionUnavailable("more than one worker needs a Chroma server: set JIDOKA_TEST_CHROMA_URL or "
                                 "install chromadb's `chroma` command")
    port = _free_port()
    with (tmp / "chroma.log").open("wb") as log:
        process = subprocess.Popen([str(chroma), "run", "--path", str(tmp / "chroma"), "--host", "127.0.0.1",
                                    "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    if httpx.get(f"{url}/api/v2/heartbeat", timeout=2.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the Chroma server did not start (see {tmp / 'chroma.log'})")
                time.sleep(0.2)
            yield url
        finally:
            stop(process, 10)


def _mib(values: tuple[float, ...]) -> str:
    return " / ".join(f"{v:.0f}" for v in values) + " MiB"


def chat_figures(ctx: BenchContext) -> list[BenchFigure]:
    """``chat_turns_per_s`` and ``chat_p99_ms`` (plus p50) over HTTP at concurrency 16 with one worker and with two;
    server and client CPU per turn; a worker's resident memory idle and after 1,000 turns."""
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
    # One worker serves 1,000 turns (its memory after them is a figure); two serve fewer, to keep the section short.
    requests, requests_2, warmup = (48, 48, CONCURRENCY) if ctx.quick else (1000, 480, CONCURRENCY * 2)
    with serve(home) as served:
        idle = served.processes.sample().worker_rss_mib if _procs.available() else ()
        ctx.progress("one worker up; warming up")
        run_load(served.base, tokens, requests=warmup)  # lexicon, caches, connections, SQLite pages
        ctx.progress(f"{requests} turns at concurrency {CONCURRENCY}, one worker")
        one = measure_load(served, tokens, requests=requests)
    with chroma_server(ctx.tmp) as chroma_url, serve(home, workers=2, env={"JIDOKA_CHROMA_URL": chroma_url}) as served:
        ctx.progress("two workers up; warming up")
        run_load(served.base, tokens, requests=warmup * 2)  # both workers: each request goes to either
        ctx.progress(f"{requests_2} turns at concurrency {CONCURRENCY}, two workers")
        two = measure_load(served, tokens, requests=requests_2)
    return _figures(one, two, idle, requests, warmup)


def _figures(one: MeasuredLoad, two: MeasuredLoad, idle: tuple[float, ...], requests: int,
             warmup: int) -> list[BenchFigure]:
    load = one.load
    common = (f"POST /v1/chat (Accept: application/json, each a new thread) by {CONCURRENCY} concurrent httpx async "
              f"clients as {len(LOAD)} demo users with HS256 bearer tokens; rules model; uvicorn (httptools, uvloop, "
              "no access log) in a subprocess on loopback, on a scratch JIDOKA_HOME with the seed-7 plant, SQLite "
              "state; rate limit raised for the run; client and server share the machine")
    cond = (f"{load.requests} {common}; one worker; {load.ok} answered 200, {load.errors} other ({load.statuses}); "
            f"wall {load.wall_s:.1f} s after {warmup} warm-up turns")
    load2 = two.load
    cond2 = (f"{load2.requests} {common}; two workers (uvicorn --workers 2, the app `jidoka serve --workers 2` runs, "
             f"with the Chroma server it requires; the load asks no document question); {load2.ok} answered 200, "
             f"{load2.errors} other ({load2.statuses}); wall {load2.wall_s:.1f} s after {warmup * 2} warm-up turns; "
             f"worker RSS after: {_mib(two.rss_after_mib)}")
    figures = [
        BenchFigure("chat_turns_per_s", load.turns_per_s, "turns/s", ">= 90", cond),
        BenchFigure("chat_p99_ms", load.p99_ms, "ms", "<= 300", cond),
        BenchFigure("chat_p50_ms", load.p50_ms, "ms", "", cond),
        BenchFigure("chat_turns_per_s_2_workers", load2.turns_per_s, "turns/s", ">= 90", cond2),
        BenchFigure("chat_p99_ms_2_workers", load2.p99_ms, "ms", "<= 300", cond2),
        BenchFigure("chat_client_cpu_ms_per_turn", one.client_cpu_ms_per_turn, "ms", "",
                    f"CPU time of the load's process (all threads: httpx clients, event loop) ÷ turns answered; "
                    f"{cond}"),
    ]
    for key, run, label in (("chat_server_cpu_ms_per_turn", one, "one worker"),
                            ("chat_server_cpu_ms_per_turn_2_workers", two, "two workers")):
        if run.server_cpu_ms_per_turn is None:
            figures.append(BenchFigure.missing(key, "no /proc here to read the server's CPU time from", unit="ms"))
        else:
            figures.append(BenchFigure(key, run.server_cpu_ms_per_turn, "ms", "",
                                       f"utime + stime of every server process (/proc) over the run ÷ turns "
                                       f"answered, {label}; {cond if run is one else cond2}"))
    if idle:
        figures.append(BenchFigure("server_rss_mib_idle", max(idle), "MiB", "",
                                   "VmRSS of the one worker once it answers /readyz, before any turn"))
    else:
        figures.append(BenchFigure.missing("server_rss_mib_idle", "no /proc here to read the RSS from", unit="MiB"))
    if not one.rss_after_mib:
        figures.append(BenchFigure.missing("server_rss_mib_after_1000_turns", "no /proc here to read the RSS from",
                                           unit="MiB"))
    elif warmup + requests < 1000:
        figures.append(BenchFigure.missing("server_rss_mib_after_1000_turns",
                                           f"a --quick run sends {warmup + requests} turns, not 1,000", unit="MiB"))
    else:
        figures.append(BenchFigure("server_rss_mib_after_1000_turns", max(one.rss_after_mib), "MiB", "",
                                   f"VmRSS of the one worker after {warmup + requests} turns ({warmup} warm-up); "
                                   f"{_mib(idle)} idle"))
    return figures
