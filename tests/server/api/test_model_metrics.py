"""``jidoka_model_*`` on /metrics: each model's drift rates read from the audit log, the same in every worker."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from guardrails.audit.log import AuditLog
from guardrails.policy.model_drift import DriftThresholds
from server.api.model_metrics import ModelHealthCollector, ModelWatch
from tests.server.api.conftest import auth
from tools import make_engine


def _series(body: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(jidoka_model_\S+) (\S+)$", body, re.MULTILINE)}


def test_metrics_show_each_models_rates_and_thresholds(client: TestClient) -> None:
    for question in ("stock of RM-3001 at P100", "stock of RM-3001 at P200"):  # pat sees P100 only: one refused
        reply = client.post("/v1/chat", json={"message": question},
                            headers={**auth("pat.planner"), "Accept": "application/json"})
        assert reply.status_code == 200
    series = _series(client.get("/metrics").text)
    assert series['jidoka_model_window_turns{model="rules"}'] == 2
    assert series['jidoka_model_rate{measure="refusal",model="rules"}'] == 0.5
    assert series['jidoka_model_rate{measure="fallback",model="rules"}'] == 0
    assert series['jidoka_model_drift_alert{measure="refusal",model="rules"}'] == 0  # 2 turns < min_turns
    assert series['jidoka_model_drift_threshold{measure="refusal"}'] == 0.2


def test_a_read_is_reused_for_cache_s_and_read_again_after(tmp_path: Path) -> None:
    log = AuditLog(make_engine(f"sqlite:///{tmp_path / 'state.db'}"))
    now = [0.0]
    collector = ModelHealthCollector(cache_s=15, clock=lambda: now[0])
    assert [m.samples for m in collector.collect()] == [[], [], [], []]  # nothing watched yet: empty families
    collector.watch = ModelWatch(log, DriftThresholds())
    families = {m.name: m.samples for m in collector.collect()}  # no audit table yet: no figures, no error
    assert families["jidoka_model_window_turns"] == [] and len(families["jidoka_model_drift_threshold"]) == 3
    log.create_schema()
    list(collector.collect())
    now[0] = 10.0
    list(collector.collect())
    assert collector._read is not None and collector._read[0] == 0.0  # reused within 15 s
    now[0] = 16.0
    list(collector.collect())
    assert collector._read is not None and collector._read[0] == 16.0  # read again after
