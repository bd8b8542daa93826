"""Section plumbing: checkpoint growth, the turn comparison, and nulls when a dependency is missing."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from evals.bench.checkpoint import checkpoint_bytes, checkpoint_growth, per_turn_growth
from evals.bench.figures import BenchContext, SectionUnavailable
from evals.bench.turn import turn_cpu
from server.runtime import RuntimeFactory
from server.settings import DEFAULT_TODAY
from tests.policy_helpers import shipped_policy


def test_per_turn_growth_uses_the_first_and_last_window() -> None:
    sizes = [100, 110, 120, 130, 150, 170, 190]
    assert per_turn_growth(sizes, window=2) == (10.0, 20.0)
    assert per_turn_growth(list(range(0, 2100, 10)), window=20) == (10.0, 10.0)
    with pytest.raises(ValueError, match="at least 3 turns"):
        per_turn_growth([1, 2, 3], window=3)


def test_checkpoint_growth_on_a_short_thread(bench_home: Path, runtime_factory: RuntimeFactory) -> None:
    growth = checkpoint_growth(bench_home, factory=runtime_factory, turns=4, window=2, prune=False)
    assert len(growth.sizes) == 5 and growth.turns == 4 and growth.keep_turns > 0 and not growth.pruned
    assert all(b >= a for a, b in zip(growth.sizes, growth.sizes[1:], strict=False))
    assert growth.first_20 > 0 and growth.last_20 > 0  # unpruned, every turn adds a checkpoint
    assert checkpoint_bytes(bench_home / "state.db") == growth.sizes[-1]
    assert checkpoint_bytes(bench_home / "plant.db") == 0  # no checkpoint tables there
    assert growth.raw_message_bytes >= growth.kept_message_bytes > 0  # 4 turns: all still kept
    assert growth.stored_vs_raw == growth.sizes[-1] / growth.raw_message_bytes


def test_pruned_checkpoints_store_one_checkpoint_whatever_the_thread_length(bench_home: Path,
                                                                          runtime_factory: RuntimeFactory) -> None:
    growth = checkpoint_growth(bench_home, factory=runtime_factory, turns=12, window=4)
    assert growth.pruned
    with sqlite3.connect(bench_home / "state.db") as conn:
        assert conn.execute("SELECT thread_id, COUNT(*) FROM checkpoints GROUP BY thread_id").fetchall() == [
            ("bench-long-thread", 1)]  # the warm-up thread is gone; the long thread holds its latest checkpoint
    # Once the thread holds KEEP_TURNS turns its state stops growing, and so does what it stores.
    assert growth.sizes[-1] <= 2 * max(growth.sizes[1:5])


def test_turn_comparison_reports_spreads_and_components(bench_home: Path, tmp_path: Path,
                                                        runtime_factory: RuntimeFactory) -> None:
    result = turn_cpu(f"sqlite:///{bench_home / 'plant.db'}", tmp_path, DEFAULT_TODAY, factory=runtime_factory,
                      rounds=2, turns=2, warmup=2)
    assert result.rounds == 2 and result.ratio.n == 2
    assert result.bare_ms.median > 0 and result.governed_ms.median > 0
    assert result.ratio.low <= result.ratio.median <= result.ratio.high
    assert set(result.components_ms) >= {"gate", "input screening", "audit write (hash chain, commit, fsync)"}
    assert result.components_ms["gate"] > 0  # the governed turns did call the gate
    governed, bare = result.storage["governed"], result.storage["bare"]
    assert governed[0] == bare[0] == 1  # the copilot's durability: one checkpoint per turn, for both agents


def test_turn_comparison_in_async_durability_checkpoints_every_step(bench_home: Path, tmp_path: Path,
                                                                   runtime_factory: RuntimeFactory) -> None:
    import sqlite3

    result = turn_cpu(f"sqlite:///{bench_home / 'plant.db'}", tmp_path, DEFAULT_TODAY, factory=runtime_factory,
                      rounds=1, turns=2, warmup=1, durability="async")
    assert result.ratio.n == 1
    for name in ("governed-state-async.db", "bare-state-async.db"):
        with sqlite3.connect(tmp_path / name) as conn:
            row = conn.execute("SELECT COUNT(DISTINCT thread_id), COUNT(*) FROM checkpoints").fetchone()
        threads, checkpoints = row
        assert checkpoints >= 2 * threads > 0  # a checkpoint per step (each turn is a fresh thread)


def _ctx(tmp_path: Path) -> BenchContext:
    return BenchContext(quick=True, tmp=tmp_path, progress=lambda _m: None)


def test_chat_is_null_with_a_reason_without_the_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evals.bench.chat import chat_figures

    monkeypatch.setitem(sys.modules, "server.app", None)  # importing it now raises ImportError
    with pytest.raises(SectionUnavailable, match="HTTP server is not importable"):
        chat_figures(_ctx(tmp_path))


def test_accuracy_is_null_with_a_reason_without_the_eval_harness(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from evals.bench.accuracy import accuracy_figures

    monkeypatch.setitem(sys.modules, "evals.runner", None)
    with pytest.raises(SectionUnavailable, match="eval harness is not importable"):
        accuracy_figures(_ctx(tmp_path))


def test_retrieval_is_null_with_a_reason_without_the_knowledge_bench(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from evals.bench.retrieval import retrieval_figures

    monkeypatch.setitem(sys.modules, "evals.bench.retrieval_quality", None)
    with pytest.raises(SectionUnavailable, match=r"evals\.bench\.retrieval_quality is not importable"):
        retrieval_figures(_ctx(tmp_path))


def test_pycasbin_is_null_with_a_reason_when_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evals.bench.sections import casbin_section

    monkeypatch.setitem(sys.modules, "casbin", None)
    with pytest.raises(SectionUnavailable, match="pycasbin is not installed"):
        casbin_section(_ctx(tmp_path))


def test_chat_load_against_the_real_server(bench_home: Path) -> None:
    from evals.bench.chat import _SECRET, LOAD, measure_load, serve
    from server.api.auth import mint_demo_token

    policy = shipped_policy()
    tokens = {user: mint_demo_token(_SECRET, policy.user(user)) for user in ("pat.planner", "bea.buyer")}
    assert set(tokens) <= set(LOAD)
    with serve(bench_home) as served:
        assert served.base.startswith("http://127.0.0.1:")
        assert served.processes.workers() == [served.processes.root]  # one worker: the uvicorn process itself
        measured = measure_load(served, tokens, requests=4, concurrency=2)
    load = measured.load
    assert load.ok == 4 and load.errors == 0 and load.statuses == {200: 4}
    assert load.turns_per_s > 0 and load.p99_ms >= load.p50_ms > 0
    # the server's CPU is read from /proc: four governed turns cost it some, the client process too
    assert measured.server_cpu_ms_per_turn is not None and measured.server_cpu_ms_per_turn > 0
    assert measured.client_cpu_ms_per_turn > 0
    assert len(measured.rss_before_mib) == len(measured.rss_after_mib) == 1 and measured.rss_after_mib[0] > 0


def test_two_workers_are_the_spawned_children(bench_home: Path, tmp_path: Path) -> None:
    from evals.bench.chat import _SECRET, measure_load, serve
    from server.api.auth import mint_demo_token

    tokens = {"pat.planner": mint_demo_token(_SECRET, shipped_policy().user("pat.planner"))}
    # the load asks no document question: a Chroma URL nothing listens on is never contacted
    with serve(bench_home, workers=2, env={"JIDOKA_CHROMA_URL": "http://127.0.0.1:9"}) as served:
        workers = served.processes.workers()
        measured = measure_load(served, tokens, requests=4, concurrency=2)
    assert len(workers) == 2 and served.processes.root not in workers
    assert measured.load.statuses == {200: 4}
    assert len(measured.rss_after_mib) == 2 and measured.server_cpu_ms_per_turn is not None


def test_rules_turns_time_rounds_and_count_semantic_embeddings(bench_home: Path,
                                                                runtime_factory: RuntimeFactory) -> None:
    from evals.bench.chat import LOAD
    from evals.bench.rules_turn import rules_turns

    result = rules_turns(runtime_factory, bench_home, rounds=1)
    asked = sum(len(questions) for questions in LOAD.values())
    assert result.turns_per_round == asked and result.rounds == 1
    assert result.cpu_ms.median > 0  # the rounds really ran governed turns
    assert result.questions == len({q for qs in LOAD.values() for q in qs})
    assert 0 <= result.embedded <= result.questions
