"""A record at a site outside the caller's scope reads exactly like a record that does not exist.

The review sorted forty ids by site because a foreign id was refused "no access to site P200" while an unknown id
was "not found". Here every read tool that takes a record id is called as a P100 planner with a P200 record and
with an id nobody has: the two answers must be the same once the id itself is set aside.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from guardrails.locator import RECORD_FIELDS, _queries
from server.runtime import Runtime, RuntimeOverrides, build_runtime
from server.settings import Settings
from tests.policy_helpers import shipped_policy

UNKNOWN = {"po": "PO-99999", "lot": "LOT-P200-9999", "wo": "WO-99999", "line": "P200-ZZ9",
           "machine": "M-P200-ZZ9-9", "asset": "AS-999", "so": "SO-99999", "qe": "QE-99999", "mo": "MO-99999"}
"""Ids shaped like the plant's own that no record has."""
_NONCE = re.compile(r"(?<=DATA )[0-9a-f]{16}")


@pytest.fixture(scope="module")
def runtime(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("oracle")
    settings = Settings.from_env({"JIDOKA_HOME": str(home), "JIDOKA_DATA_URL": f"sqlite:///{demo_home / 'plant.db'}"})
    rt = build_runtime(settings, RuntimeOverrides(policy=shipped_policy(), prepare_plant=False))
    yield rt
    rt.close()


def _foreign(rt: Runtime, kind: str) -> str:
    id_column, query = _queries()[kind]
    site = query.selected_columns[0]
    with rt.data_engine.connect() as conn:
        found = conn.execute(select(id_column).select_from(query.get_final_froms()[0])
                             .where(site == "P200").order_by(id_column).limit(1)).scalar_one()
    return str(found)


def _cases(rt: Runtime) -> list[tuple[str, str, str]]:
    """(tool, argument, kind) for every read tool argument that names a site-bound record."""
    out = []
    for spec in rt.catalog:
        for arg in spec.json_schema().get("properties", {}):
            kind = RECORD_FIELDS.get(arg)
            if kind is not None and kind != "site" and kind in UNKNOWN and not arg.endswith("s"):
                out.append((spec.name, arg, kind))
    return out


def _seen(rt: Runtime, tool: str, args: dict[str, Any], record_id: str) -> tuple[str, str, str]:
    """What the caller is told (decision effect, status and the result), with the named id blanked out."""
    user = rt.policy.user("pat.planner")
    trace = rt.trace(user.user_id)
    with rt.audit.buffer() as audit:
        outcome = rt.tools.call(rt.tools.identify(user.user_id, trace, audit), tool, args, trace=trace, audit=audit)
    shown = json.dumps(outcome.for_model(), sort_keys=True, default=str).replace(record_id, "<ID>")
    shown = _NONCE.sub("<NONCE>", shown)  # spotlight markers are random per call
    return outcome.decision.effect.value, str(outcome.result.status if outcome.result else "refused"), shown


def test_a_foreign_record_and_an_unknown_one_get_the_same_answer_from_every_tool(runtime: Runtime) -> None:
    cases = _cases(runtime)
    assert len(cases) >= 10  # lot, PO, WO, line, machine, asset, SO and QE arguments of the read tools
    differ = []
    for tool, arg, kind in cases:
        foreign, unknown = _foreign(runtime, kind), UNKNOWN[kind]
        a = _seen(runtime, tool, {arg: foreign}, foreign)
        b = _seen(runtime, tool, {arg: unknown}, unknown)
        if a != b:
            differ.append(f"{tool}({arg}): {a[:2]} {a[2][:160]} != {b[:2]} {b[2][:160]}")
        assert "P200" not in a[2].replace("<ID>", ""), f"{tool}({arg}) names the foreign site"
    assert differ == []
