"""Two workers on Postgres and a Chroma server under a bounded mixed load: nothing lost, nothing done twice.

The load is ``evals.bench.scale`` (what ``jidoka bench --only scale`` runs with 1,000 turns and 1 vs 2 workers),
smaller here. It needs the services ``make test`` starts (``.ci/with-services``) and fails without them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.bench.scale import ScaleServices, drop_database, ingest_corpus, plant_template, run_scale
from tests.factories import DEMO_SEED, TODAY

TURNS, HOLDS = 240, 20


def test_two_workers_answer_audit_and_execute_each_approved_request_once(tmp_path: Path) -> None:
    services = ScaleServices.from_env()
    if services is None:
        pytest.fail("JIDOKA_TEST_PG_URL / JIDOKA_TEST_CHROMA_URL are not set: run the tests with `make test`, which "
                    "starts Postgres and a Chroma server on loopback")
    template = plant_template(services.pg_admin_url, seed=DEMO_SEED, today=TODAY, manifest_dir=tmp_path)
    try:
        ingest_corpus(services.chroma_url, tmp_path / "ingest")
        run = run_scale(services, template, tmp_path / "serve", workers=2, turns=TURNS, holds=HOLDS, warmup=8)
    finally:
        drop_database(services.pg_admin_url, template)

    assert run.problems == []
    assert run.chat_sent == TURNS and len(run.chat_latencies_ms) == TURNS
    assert run.server_errors == 0 and set(run.statuses) <= {200, 409}
    assert run.prompt_events == TURNS  # every turn sent was audited, by whichever worker answered it
    assert run.chain_ok
    assert len(run.requests) == HOLDS and run.executed_once == HOLDS
    assert sorted(sorted(pair) for pair in run.approval_pairs) == [[200, 409]] * HOLDS
    logs = (tmp_path / "serve" / "serve-2w.log").read_text()
    assert logs.count("Started server process") == 2  # two workers really served
