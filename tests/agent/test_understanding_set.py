"""Integrity of the held-out understanding sets (tests/agent/data/understanding_heldout.yaml and the blind sets
understanding_heldout2.yaml and understanding_heldout3.yaml). No model runs here.

Each set must parse and follow its documented format, use real users, intent labels of the issue-14 spec, tools of
the catalog or the six new ones, and the policy's actions; it must be large and varied enough (turns, multi-turn
conversations, follow-ups, every label, role, site and style, Spanish from the P200 users); its refusals must be
ones the policy really makes; and every oracle it names must give facts on the seed-7 demo plant for its user,
inside that user's sites and masking.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

from guardrails.approvals.routing import action_rules
from guardrails.identity import User
from guardrails.locator import RECORD_FIELDS, SqlSiteResolver
from guardrails.policy.loader import Policy
from tests.agent.oracle import ORACLES, OracleContext
from tests.factories import TODAY
from tools import default_catalog
from tools.actions.catalog import action_catalog

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Floor:
    """How large and varied a held-out set must be."""

    turns: int
    multi: int
    followups: int
    per_label: int
    per_new_intent: int
    spanish: int


SETS: dict[str, Floor] = {
    "understanding_heldout.yaml": Floor(turns=170, multi=30, followups=60, per_label=3, per_new_intent=8,
                                        spanish=0),
    # the second set, written blind: smaller, so every label at least twice; 30+ Spanish turns
    "understanding_heldout2.yaml": Floor(turns=120, multi=30, followups=40, per_label=2, per_new_intent=2,
                                         spanish=30),
    # the third set, written blind (2026-12-07): every label at least twice, 40+ Spanish turns
    "understanding_heldout3.yaml": Floor(turns=150, multi=40, followups=60, per_label=2, per_new_intent=2,
                                         spanish=40),
}
"""The held-out sets and their size floors."""

NEW_TOOLS: dict[str, tuple[str, frozenset[str]]] = {
    "sales_orders": ("sales", frozenset({"site_id", "so_id", "customer", "item_id", "status", "open_only", "late_only",
                                         "due_within_days", "limit"})),
    "lot_status": ("inventory", frozenset({"lot_id"})),
    "demand_vs_orders": ("sales", frozenset({"item_id", "site_id", "weeks"})),
    "transfers": ("inventory", frozenset({"site_id", "item_id", "lot_id", "direction", "days", "limit"})),
    "maintenance_orders": ("maintenance", frozenset({"site_id", "asset_id", "line_id", "status", "mo_type",
                                                     "open_only", "scheduled_within_days", "limit"})),
    "spare_parts": ("maintenance", frozenset({"asset_id", "site_id", "line_id", "item_id", "short_only", "limit"})),
}
"""The six issue-14 read tools: their domain and argument names (fixed by the spec)."""

SALES_ROLES = frozenset({"planner", "production_supervisor", "executive", "finance"})
"""Roles the spec grants the new ``sales`` domain (the shipped policy may not have it yet)."""

TRIAGE = ("expedite", "reschedule_out", "cancel", "order_now", "unconfirmed", "supplier_slip", "price_variance",
          "quality_blocked")
INTENT_TOOLS: dict[str, set[str]] = {
    "lot_genealogy": {"lot_genealogy"}, "lot_location": {"inventory_lookup"}, "projected_stock": {"projected_stock"},
    "stock_on_hand": {"inventory_lookup"}, "below_reorder": {"items_below_reorder"},
    "shortages": {"items_below_reorder", "work_orders_at_risk"},
    **{f"triage_{c}": {"buyer_exception_triage"} for c in TRIAGE}, "buyer_triage": {"buyer_exception_triage"},
    "po_due": {"open_po_lines"}, "late_pos": {"open_po_lines"}, "open_pos": {"open_po_lines"},
    "supplier_scorecard": {"supplier_scorecard"}, "alternative_suppliers": {"alternative_suppliers"},
    "wo_at_risk": {"work_orders_at_risk"}, "late_work_orders": {"work_orders"}, "work_orders": {"work_orders"},
    "scrap_root_cause": {"scrap_analysis", "machine_parameter_drift"}, "scrap_analysis": {"scrap_analysis"},
    "parameter_drift": {"machine_parameter_drift"}, "downtime": {"machine_downtime"},
    "line_performance": {"line_performance"}, "quality_events": {"quality_events"},
    "assets_at_risk": {"assets_at_risk"}, "reconciliation": {"executive_summary"},
    "executive_summary": {"executive_summary"}, "procedure": {"search_documents"},
    # new in issue 14
    "sales_orders": {"sales_orders"}, "lot_status": {"lot_status"}, "demand_vs_orders": {"demand_vs_orders"},
    "transfers": {"transfers"}, "maintenance_orders": {"maintenance_orders"}, "spare_parts": {"spare_parts"},
    "current_work_orders": {"work_orders"}, "outstanding_pos": {"open_po_lines"},
}
"""Every read intent label of the spec and the tools that answer it."""

NEW_INTENTS = ("sales_orders", "lot_status", "demand_vs_orders", "transfers", "maintenance_orders", "spare_parts",
               "current_work_orders", "outstanding_pos")
ACTIONS = ("place_quality_hold", "reallocate_inventory", "request_po_date_change", "open_supplier_review",
           "create_maintenance_order", "reserve_spare_parts")
"""The action requests of the spec (their intent label is the action name)."""
LABELS = {*INTENT_TOOLS, *ACTIONS, "clarify"}
STYLES = {"terse", "chatty", "typo", "context", "spanish", "nickname", "current", "followup", "clarify", "refusal"}
CONVERSATION_KEYS = {"id", "user", "style", "lang", "turns"}
TURN_KEYS = {"q", "intent", "tools", "oracle", "style", "clarify", "refused", "action", "reason_contains"}
SPANISH_USERS = ("paz.planner", "qiu.quality", "sol.supervisor")


def _load(name: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict) and set(data) == {"conversations"}, "the set is one mapping: conversations"
    convs: list[dict[str, Any]] = data["conversations"]
    assert isinstance(convs, list) and convs
    return convs


@pytest.fixture(scope="module", params=sorted(SETS))
def held_out(request: pytest.FixtureRequest) -> str:
    """The file name of one held-out set."""
    return str(request.param)


@pytest.fixture(scope="module")
def conversations(held_out: str) -> list[dict[str, Any]]:
    return _load(held_out)


@pytest.fixture(scope="module")
def floor(held_out: str) -> Floor:
    return SETS[held_out]


def _turns(conversations: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], int, dict[str, Any]]]:
    for conv in conversations:
        for i, turn in enumerate(conv["turns"]):
            yield conv, i, turn


def _style(conv: dict[str, Any], turn: dict[str, Any]) -> str:
    return str(turn.get("style") or conv["style"])


def _may_call(policy: Policy, user: User, tool: str) -> bool:
    """Whether one of the user's roles is granted ``tool`` (the spec's sales grants included)."""
    catalog = default_catalog()
    domain = catalog.get(tool).domain if tool in catalog else NEW_TOOLS[tool][0]
    return any(policy.roles[r].grants(tool, domain) or (domain == "sales" and r in SALES_ROLES) for r in user.roles)


# ------------------------------------------------------------------------------------------ format
def test_format(conversations: list[dict[str, Any]], policy: Policy) -> None:
    catalog, actions = default_catalog(), action_catalog()
    ids = [c.get("id") for c in conversations]
    assert len(ids) == len(set(ids)), "conversation ids are unique"
    problems: list[str] = []
    for conv in conversations:
        cid = conv.get("id")
        if not re.fullmatch(r"H-\d{3}", str(cid)):
            problems.append(f"{cid}: id is H-NNN")
        if set(conv) - CONVERSATION_KEYS or not {"id", "user", "style", "turns"} <= set(conv):
            problems.append(f"{cid}: keys {sorted(conv)}")
            continue
        if conv["user"] not in policy.users:
            problems.append(f"{cid}: unknown user {conv['user']}")
        if conv["style"] not in STYLES or conv.get("lang", "en") not in ("en", "es"):
            problems.append(f"{cid}: style {conv['style']} / lang {conv.get('lang')}")
        if not isinstance(conv["turns"], list) or not conv["turns"]:
            problems.append(f"{cid}: no turns")
            continue
        for n, turn in enumerate(conv["turns"]):
            where = f"{cid}#{n + 1}"
            if set(turn) - TURN_KEYS or not {"q", "intent", "tools"} <= set(turn):
                problems.append(f"{where}: keys {sorted(turn)}")
                continue
            if not isinstance(turn["q"], str) or not turn["q"].strip():
                problems.append(f"{where}: empty question")
            if turn["intent"] not in LABELS:
                problems.append(f"{where}: intent {turn['intent']} is not a spec label")
            if turn.get("style", "terse") not in STYLES:
                problems.append(f"{where}: style {turn['style']}")
            for flag in ("clarify", "refused"):
                if flag in turn and turn[flag] is not True:
                    problems.append(f"{where}: {flag} is true or absent")
            if not isinstance(turn["tools"], list):
                problems.append(f"{where}: tools is a list")
                continue
            for call in turn["tools"]:
                if (not isinstance(call, dict) or set(call) - {"name", "args"} or not isinstance(call.get("name"), str)
                        or not isinstance(call.get("args", {}), dict)):
                    problems.append(f"{where}: call {call}")
                    continue
                name, args = str(call["name"]), call.get("args") or {}
                if name in catalog:
                    known = set(catalog.get(name).json_schema().get("properties", {}))
                elif name in NEW_TOOLS:
                    known = set(NEW_TOOLS[name][1])
                else:
                    problems.append(f"{where}: unknown tool {name}")
                    continue
                if set(args) - known:
                    problems.append(f"{where}: {name} has no argument {sorted(set(args) - known)}")
                if turn["intent"] in INTENT_TOOLS and name not in INTENT_TOOLS[turn["intent"]]:
                    problems.append(f"{where}: {name} does not answer {turn['intent']}")
            oracle = turn.get("oracle")
            if oracle is not None and (not isinstance(oracle, dict) or oracle.get("fn") not in ORACLES):
                problems.append(f"{where}: oracle {oracle}")
            action = turn.get("action")
            if action is not None:
                if not isinstance(action, dict) or set(action) != {"name", "args"} or action["name"] not in actions:
                    problems.append(f"{where}: action {action}")
                else:
                    fields = set(actions.get(action["name"]).args_model.model_fields)
                    if set(action["args"]) - fields:
                        problems.append(f"{where}: {action['name']} has no argument {set(action['args']) - fields}")
                    if action["name"] != turn["intent"]:
                        problems.append(f"{where}: an action request's intent is the action name")
            elif turn["intent"] in ACTIONS:
                problems.append(f"{where}: action intent without the action")
            if "reason_contains" in turn and (action is None or not str(turn["reason_contains"]).strip()):
                problems.append(f"{where}: reason_contains needs an action")
            said = " ".join(str(t.get("q", "")) for t in conv["turns"][: n + 1]).lower()
            if "reason_contains" in turn and str(turn["reason_contains"]).lower() not in said:
                problems.append(f"{where}: reason_contains quotes nothing the user said")
            if turn.get("clarify") and (turn["tools"] or oracle or action or turn["intent"] != "clarify"):
                problems.append(f"{where}: a clarifying answer calls nothing, has no facts, intent clarify")
            if turn["intent"] == "clarify" and not turn.get("clarify"):
                problems.append(f"{where}: intent clarify needs clarify: true")
            if turn.get("refused") and (oracle or action):
                problems.append(f"{where}: a refusal has no facts and no action")
            if not (turn.get("clarify") or turn.get("refused") or action or oracle):
                problems.append(f"{where}: an answered question needs an oracle")
    assert not problems, "\n".join(problems)


def test_action_args_fit(conversations: list[dict[str, Any]]) -> None:
    """The expected action arguments, filled with a placeholder reason, validate against the action's schema."""
    actions = action_catalog()
    for conv, n, turn in _turns(conversations):
        if "action" in turn:
            spec = actions.get(turn["action"]["name"])
            args = dict(turn["action"]["args"])
            if "reason" in spec.args_model.model_fields:
                args.setdefault("reason", "from the conversation")
            if "description" in spec.args_model.model_fields:
                args.setdefault("description", "from the conversation")
            spec.parse_args(args)  # raises on a wrong type or value
            assert spec.name, f"{conv['id']}#{n + 1}"


# ------------------------------------------------------------------------------------------ size and coverage
def test_size_and_coverage(conversations: list[dict[str, Any]], policy: Policy, floor: Floor) -> None:
    turns = list(_turns(conversations))
    multi = [c for c in conversations if len(c["turns"]) >= 2]
    followups = [t for _, i, t in turns if i > 0]
    assert len(turns) >= floor.turns, len(turns)
    assert len(multi) >= floor.multi, len(multi)
    assert len(followups) >= floor.followups, len(followups)

    per_intent = Counter(t["intent"] for _, _, t in turns)
    thin = {label: per_intent[label] for label in LABELS if per_intent[label] < floor.per_label}
    assert not thin, f"labels with fewer than {floor.per_label} turns: {thin}"
    thin_new = {label: per_intent[label] for label in NEW_INTENTS if per_intent[label] < floor.per_new_intent}
    assert not thin_new, f"new intents with fewer than {floor.per_new_intent} turns: {thin_new}"
    assert sum(1 for _, _, t in turns if "action" in t) >= 8

    styles = Counter(_style(c, t) for c, _, t in turns)
    assert set(styles) >= STYLES, f"styles missing: {STYLES - set(styles)}"
    assert sum(1 for _, _, t in turns if t.get("clarify")) >= 3

    users = {c["user"] for c in conversations}
    roles = {r for u in users for r in policy.user(u).roles}
    assert roles == set(policy.roles), f"roles without a question: {set(policy.roles) - roles}"
    sites = {s for u in users for s in policy.user_sites(policy.user(u))}
    assert {"P100", "P200"} <= sites

    spanish = Counter(c["user"] for c, _, _ in turns if c.get("lang") == "es")
    assert all(spanish[u] >= 2 for u in SPANISH_USERS), spanish
    assert set(spanish) <= set(SPANISH_USERS), "Spanish comes from the P200 users"
    assert sum(spanish.values()) >= floor.spanish, spanish
    spanish_followups = [t for c, i, t in turns if i > 0 and c.get("lang") == "es"]
    assert len(spanish_followups) >= (5 if floor.spanish else 0), len(spanish_followups)


def test_sets_are_distinct() -> None:
    """The held-out sets share no conversation id and no question (the second set was written without copying
    the first one's wording)."""
    ids: Counter[str] = Counter()
    questions: dict[str, str] = {}
    repeated: list[str] = []
    for name in sorted(SETS):
        for conv in _load(name):
            ids[str(conv["id"])] += 1
            for turn in conv["turns"]:
                key = " ".join(str(turn["q"]).lower().split())
                if key in questions and questions[key] != name:
                    repeated.append(f"{name}: {turn['q']!r} is also in {questions[key]}")
                questions.setdefault(key, name)
    assert not [i for i, n in ids.items() if n > 1], "conversation ids are unique across the sets"
    assert not repeated, "\n".join(repeated)


# ------------------------------------------------------------------------------------------ refusals are real
def test_refusals_follow_the_policy(conversations: list[dict[str, Any]], policy: Policy, demo_plant: Engine) -> None:
    """A refused turn names a tool the user's roles lack (no call expected), or a call whose arguments point at a
    site the user does not hold; an answered turn's calls are all allowed to the user."""
    resolver = SqlSiteResolver(demo_plant)
    rules = action_rules(policy).base
    problems: list[str] = []
    for conv, n, turn in _turns(conversations):
        where, user = f"{conv['id']}#{n + 1}", policy.user(conv["user"])
        held = policy.user_sites(user)
        if turn.get("refused"):
            if not turn["tools"]:
                if any(_may_call(policy, user, t) for t in INTENT_TOOLS.get(turn["intent"], ())):
                    problems.append(f"{where}: {conv['user']} may call a tool for {turn['intent']}")
                continue
            for call in turn["tools"]:
                foreign = [v for k, v in (call.get("args") or {}).items() if k in RECORD_FIELDS
                           and (v if RECORD_FIELDS[k] == "site" else resolver.site_of(RECORD_FIELDS[k], v)) not in held]
                if not _may_call(policy, user, call["name"]) or not foreign:
                    problems.append(f"{where}: {call['name']} {call.get('args')} is not a site refusal")
            continue
        for call in turn["tools"]:
            if not _may_call(policy, user, call["name"]):
                problems.append(f"{where}: {conv['user']} may not call {call['name']}")
        if "action" in turn and not user.roles & rules[turn["action"]["name"]].proposers:
            problems.append(f"{where}: {conv['user']} may not propose {turn['action']['name']}")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------------ oracles
RECORD_PREFIXES = {"PO-": "po", "LOT-": "lot", "WO-": "wo", "SO-": "so", "QE-": "qe", "MO-": "mo", "AS-": "asset",
                   "M-": "machine", "P100-": "line", "P200-": "line"}
"""Id prefixes of site-bound records, and their kind for the site resolver."""


def _site_of(resolver: SqlSiteResolver, value: Any) -> str | None:
    text = str(value)
    kind = next((k for p, k in RECORD_PREFIXES.items() if text.startswith(p)), None)
    return resolver.site_of(kind, text.split("/")[0]) if kind else None


def test_every_oracle_gives_facts_in_scope(conversations: list[dict[str, Any]], policy: Policy, demo_plant: Engine,
                                           demo_manifest: dict[str, Any]) -> None:
    """Each referenced oracle returns at least one fact for its user, asks only about the user's sites and names
    no record of another site; prices (``value``) only for roles that may see sales prices."""
    resolver = SqlSiteResolver(demo_plant)
    price_roles = policy.fields["sales_orders.unit_price"].visible_to
    problems: list[str] = []
    for conv, n, turn in _turns(conversations):
        if "oracle" not in turn:
            continue
        where, user = f"{conv['id']}#{n + 1}", policy.user(conv["user"])
        held = policy.user_sites(user)
        spec = dict(turn["oracle"])
        if spec.get("value") and not user.roles & price_roles:
            problems.append(f"{where}: {conv['user']} may not see sales prices")
        asked = [spec[k] if k == "site" else spec[k][:4] for k in ("site", "line") if spec.get(k)]
        if any(site not in held for site in asked):
            problems.append(f"{where}: the oracle asks about a site {conv['user']} does not hold")
        ctx = OracleContext(demo_plant, user.sites, TODAY, demo_manifest)
        facts = ORACLES[spec.pop("fn")](ctx, **spec)
        if not facts:
            problems.append(f"{where}: {turn['oracle']} gives no facts for {conv['user']}")
        leaks = [f.describe() for f in facts if f.kind == "id" and _site_of(resolver, f.value) not in (None, *held)]
        if leaks:
            problems.append(f"{where}: facts outside {sorted(held)}: {leaks}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", sorted((Path(__file__).parent / "data").glob("understanding_dev*.yaml")),
                         ids=lambda p: p.stem)
def test_dev_sets_mark_every_clarifying_turn(path: Path) -> None:
    """A dev turn labelled with intent clarify must say clarify: true (else a right clarifying question is scored
    as one asked on an unambiguous turn), and the reverse."""
    data = yaml.safe_load(path.read_text())
    wrong = [f"{c['id']}#{i}" for c in data["conversations"] for i, t in enumerate(c["turns"])
             if (t.get("intent") == "clarify") != bool(t.get("clarify"))]
    assert not wrong, wrong
