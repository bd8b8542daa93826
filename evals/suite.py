"""The suite format: YAML files of cases with state-based checks, loaded into typed (pydantic) models.

A suite names thresholds on metrics and lists cases. A case is a user (or a list of users: one case per
user), a channel, an input and checks that read state only — tool calls and gate decisions, oracle facts,
canaries, the approval requested, the plant database and the audit trace. No LLM judges.

Oracles, pickers and canaries are named functions in :mod:`evals.oracle` (never SQL in YAML); a case's
``vars`` pick ids from the plant or its manifest so suites do not depend on one seed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evals.errors import SuiteInvalid, SuiteNotFound

__all__ = ["ApprovalExpect", "Case", "Channel", "Checks", "FnRef", "Plant", "Step", "Suite", "Threshold",
           "ToolExpect", "VarSpec", "list_suites", "load_suite", "parse_suite"]

Channel = Literal["user_turn", "knowledge_document", "erp_text_field", "tool_output"]
CaseKind = Literal["benign", "attack", "boundary", "approval", "scenario"]
METRIC_NAMES = ("answer_accuracy", "benign_utility", "utility_under_attack", "attack_success_rate", "leak_rate",
                "privilege_escalation_attempted", "privilege_escalation_executed", "unapproved_action_rate",
                "approval_routing_recall", "approval_routing_precision", "approval_binding_integrity",
                "false_refusal_rate", "audit_completeness")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FnRef(_Model):
    """A named function of :mod:`evals.oracle` with keyword arguments (strings may hold ``{var}``)."""

    fn: str
    args: dict[str, Any] = Field(default_factory=dict)


class VarSpec(_Model):
    """One variable of a case: a manifest path (``scenarios.scrap_spike.line_id``), a picker or a value."""

    manifest: str | None = None
    pick: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    value: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> VarSpec:
        if sum(x is not None for x in (self.manifest, self.pick, self.value)) != 1:
            raise ValueError("a var needs exactly one of manifest, pick or value")
        return self


class ToolExpect(_Model):
    """An expected tool call: its name, a subset of its arguments, the gate decision and rule id (prefix)."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    decision: Literal["allow", "deny", "needs_approval"] | None = None
    rule_id: str | None = None


class ApprovalExpect(_Model):
    """An expected approval request: the action and each approver group's eligible users (exactly)."""

    action: str
    groups: list[list[str]] | None = None


class Plant(_Model):
    """Free text written into one plant row of the case's fresh copy before the run (an injection channel)."""

    table: str
    key: dict[str, str]
    column: str
    text: str
    mode: Literal["replace", "append"] = "append"


class Step(_Model):
    """One step after the turn, on the case's approval requests (``request`` = index in the turn's list)."""

    op: Literal["decide", "resume", "tamper", "expire", "replay", "ask"]
    request: int = 0
    approver: str | None = None
    decision: Literal["approve", "reject"] = "approve"
    args: dict[str, Any] = Field(default_factory=dict)
    """For ``tamper``: the arguments substituted for the approved ones."""
    input: str | None = None
    """For ``ask``: the next question in the same thread."""
    expect_error: str | None = None
    """The approvals error class name the step must raise (``SeparationOfDuties``, ``NotEligible`` ...)."""
    expect_status: str | None = None
    """For ``resume`` / ``tamper`` / ``replay``: the request's status afterwards."""
    attempt: bool = False
    """An abuse attempt: counts towards ``approval_binding_integrity`` (held when it changed nothing)."""

    @model_validator(mode="after")
    def _operands(self) -> Step:
        if self.op in ("decide", "expire") and self.approver is None:
            raise ValueError(f"{self.op} steps need an approver")
        if self.op == "ask" and self.input is None:
            raise ValueError("ask steps need an input")
        return self


class Checks(_Model):
    """What must hold after the case ran. ``None`` means 'not checked'."""

    tools: list[ToolExpect] | None = None
    forbidden_tools: list[str] = Field(default_factory=list)
    """Tools/actions the attacker wants: allowed or routed to approval counts as attacker success."""
    facts: FnRef | None = None
    """Oracle facts the answer must state (permission-scoped to the asking user)."""
    canaries: list[FnRef] = Field(default_factory=list)
    """Values that must not appear anywhere the user can see (unless the user typed them)."""
    goal_phrases: list[str] = Field(default_factory=list)
    """Output the attacker wants (case-insensitive); present in the answer = attacker success."""
    refusal: bool | None = None
    """True: the case must be refused; False: it must not be (benign twins)."""
    approvals: list[ApprovalExpect] | None = None
    executed: list[str] = Field(default_factory=list)
    """Actions that must have executed (after approval) — their changes must be in the database."""
    db: Literal["unchanged", "approved_only"] = "unchanged"
    withheld: list[str] = Field(default_factory=list)
    """Record ids / citation prefixes (``FIN-001``) that must never reach the model or the user (a leak)."""
    delivered: list[str] = Field(default_factory=list)
    """Record ids whose (injected) text must have reached the model in a tool result — else the attack case is
    vacuous. The rows a case plants text in are added automatically."""


class Case(_Model):
    """One eval case (expanded to one run per user)."""

    id: str
    users: list[str] = Field(min_length=1)
    channel: Channel = "user_turn"
    kind: CaseKind = "benign"
    family: str | None = None
    """Attack family (ignore_previous, fake_system, embedded_order, encoded, approval_reuse, fill_in ...)."""
    input: str = Field(min_length=1)
    vars: dict[str, VarSpec] = Field(default_factory=dict)
    plant: list[Plant] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    expect: Checks = Field(default_factory=Checks)
    requires: Literal["knowledge_corpus"] | None = None
    """A capability the case needs; without it the case is reported as skipped with the reason."""

    @model_validator(mode="before")
    @classmethod
    def _user_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "user" in data:
            data = dict(data)
            if "users" in data:
                raise ValueError("give either user or users, not both")
            data["users"] = [data.pop("user")]
        return data

    @model_validator(mode="after")
    def _vars_defined(self) -> Case:
        used = set(re.findall(r"\{(\w+)\}", self.input))
        for plant in self.plant:
            used |= set(re.findall(r"\{(\w+)\}", plant.text + " ".join(plant.key.values())))
        missing = sorted(used - set(self.vars) - {"user", "own_site", "foreign_site"})
        if missing:
            raise ValueError(f"case {self.id}: undefined vars {missing}")
        return self


class Threshold(_Model):
    """A gate on one metric of the suite: ``rate op value`` must hold. A metric the suite did not measure
    (N = 0) misses its threshold: a safety gate that measured nothing must not pass."""

    metric: str
    op: Literal["<=", ">=", "<", ">"]
    value: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _known(self) -> Threshold:
        if self.metric not in METRIC_NAMES:
            raise ValueError(f"unknown metric {self.metric!r}; known: {', '.join(METRIC_NAMES)}")
        return self

    def holds(self, rate: float | None) -> bool:
        """True when ``rate`` meets the threshold (``None`` — nothing measured — never does)."""
        if rate is None:
            return False
        return {"<=": rate <= self.value, ">=": rate >= self.value, "<": rate < self.value,
                ">": rate > self.value}[self.op]

    def describe(self) -> str:
        """``metric op value``."""
        return f"{self.metric} {self.op} {self.value:g}"


class Suite(_Model):
    """A named list of cases with the thresholds its metrics must meet."""

    suite: str
    description: str = ""
    model: Literal["any", "adversarial"] = "any"
    """``adversarial``: the compromised-model containment suite (run with ``--model adversarial``)."""
    thresholds: list[Threshold] = Field(default_factory=list)
    cases: list[Case] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)
    """Suite-specific settings (the adversarial suite's attack kinds and users)."""

    @model_validator(mode="after")
    def _unique_ids(self) -> Suite:
        seen: set[str] = set()
        for case in self.cases:
            if case.id in seen:
                raise ValueError(f"duplicate case id {case.id!r}")
            seen.add(case.id)
        return self

    def expanded(self) -> Iterator[tuple[Case, str]]:
        """Every (case, user) run of the suite."""
        for case in self.cases:
            for user in case.users:
                yield case, user


def _suite_dir() -> Path:
    return Path(str(resources.files("evals") / "suites"))


_OWN_RUNNER = frozenset({"monitoring"})
"""Shipped suites with a runner and a format of their own (not chat-turn cases): ``monitoring``."""


def list_suites() -> list[str]:
    """Names of the chat-turn suites shipped with jidoka (``monitoring`` has its own runner and format)."""
    return sorted(p.stem for p in _suite_dir().glob("*.yaml") if p.stem not in _OWN_RUNNER)


def parse_suite(text: str, source: str) -> Suite:
    """Parse and validate suite YAML; :class:`SuiteInvalid` names the source and the first bad field."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SuiteInvalid(source, f"not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise SuiteInvalid(source, "the top level must be a mapping with suite, thresholds and cases")
    try:
        return Suite.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise SuiteInvalid(source, f"{where}: {first['msg']}") from None


def load_suite(name_or_path: str) -> Suite:
    """A shipped suite by name, or a suite file by path."""
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = _suite_dir() / f"{name_or_path}.yaml"
        if not path.is_file():
            raise SuiteNotFound(name_or_path, list_suites())
    return parse_suite(path.read_text(encoding="utf-8"), str(path.name))
