"""The policy's ``models:`` section: which chat models may run, and which risk classes each may propose.

The model id grammar (``rules`` / ``openai:<model>``, as ``JIDOKA_MODEL`` writes it) lives here too, because the
policy names models by that id; the agent builds the model from the same :class:`ModelSpec`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from guardrails.errors import (
    ModelConfigError,
    ModelNotApproved,
    ModelPolicyError,
    ModelPolicyLoosening,
    UnknownRiskClass,
)
from guardrails.policy.model_drift import DriftThresholds
from guardrails.policy.model_hosting import ModelHosting
from tools.spec import RISK_CLASSES

if TYPE_CHECKING:
    from guardrails.policy.loader import Policy

__all__ = ["MODEL_VARIABLE", "ApprovedModel", "ModelPolicy", "ModelSpec", "Provider"]

Provider = Literal["rules", "openai"]
MODEL_VARIABLE = "JIDOKA_MODEL"

_FORMS = "'rules' or 'openai:<model>' (e.g. openai:gpt-4o-mini, openai:qwen2.5:7b)"
# A model name is one token: no whitespace or control characters (they are always a typo here).
_NAME = re.compile(r"[^\s\x00-\x1f\x7f]{1,200}")


@dataclass(frozen=True)
class ModelSpec:
    """The configured model, parsed from ``JIDOKA_MODEL``."""

    provider: Provider
    """``rules`` (offline, built in) or ``openai`` (an OpenAI-compatible server)."""
    name: str
    """The model name sent to the server (``gpt-4o-mini``, ``qwen2.5:7b``); ``rules`` for the rules model."""
    raw: str
    """The text it was parsed from."""

    @property
    def id(self) -> str:
        """The id the policy's ``models.approved`` list uses: ``rules`` or ``openai:<model>``."""
        return "rules" if self.provider == "rules" else f"openai:{self.name}"

    @classmethod
    def parse(cls, text: str | None, *, variable: str = MODEL_VARIABLE) -> ModelSpec:
        """Parse ``rules`` / ``openai:<model>``; empty or ``None`` means ``rules``.

        The model name is everything after the first colon, so it may contain
        colons itself (Ollama tags: ``openai:qwen2.5:7b``). Anything else raises
        :class:`ModelConfigError` naming ``variable`` and the allowed forms.
        """
        raw = "" if text is None else text
        if not isinstance(raw, str):
            raise ModelConfigError(variable, f"must be text: {_FORMS}, got {type(raw).__name__}")
        value = raw.strip()
        if not value or value.lower() == "rules":
            return cls(provider="rules", name="rules", raw=raw)
        provider, sep, name = value.partition(":")
        if provider.lower() != "openai":
            raise ModelConfigError(variable, f"must be {_FORMS}, got {raw!r}")
        if not sep or not name:
            raise ModelConfigError(variable, f"{raw!r} names no model; write openai:<model>, "
                                             "e.g. openai:gpt-4o-mini")
        if not _NAME.fullmatch(name):
            raise ModelConfigError(variable, f"model name {name!r} must be 1-200 characters without spaces; "
                                             f"write {_FORMS}")
        return cls(provider="openai", name=name, raw=raw)


_TOP_KEYS = frozenset({"approved", "hosting", "drift"})
_LOWER_KEYS = frozenset({"approved", "remove", "hosting", "drift"})
_ENTRY_KEYS = frozenset({"id", "provider", "risk_classes", "description"})


@dataclass(frozen=True)
class ApprovedModel:
    """A model the policy approves, and which kinds of tool call it may propose."""

    id: str
    """``rules`` or ``openai:<model>``, as in ``JIDOKA_MODEL``."""
    provider: Provider
    risk_classes: frozenset[str]
    """Action risk classes (advisory, approval, autonomous) it may propose; reading is implied."""
    approved_in: str
    """The policy file that approves it."""
    description: str = ""

    def may_propose(self, risk_class: str) -> bool:
        """True when this model may propose a tool call of ``risk_class`` (``read`` always)."""
        if risk_class not in RISK_CLASSES:
            raise UnknownRiskClass(risk_class, RISK_CLASSES)
        return risk_class == "read" or risk_class in self.risk_classes


@dataclass(frozen=True)
class ModelPolicy:
    """The approved models after every policy layer (a lower layer may only remove models or risk classes).

    The section is deployment-wide: the model is fixed at start-up, before any
    user or site is known, so a plant layer that narrows it narrows it everywhere.
    """

    approved: Mapping[str, ApprovedModel]
    top_file: str
    """The file that approves models (normally ``enterprise.yaml``)."""
    removed_by: Mapping[str, str] = field(default_factory=dict)
    """Model id → the lower layer that removed it."""
    source: str = ""
    """Where the policy came from (folder), for messages."""
    hosting: ModelHosting = field(default_factory=lambda: ModelHosting(allowed=None))
    """The endpoints an ``openai`` model may be reached at (:mod:`guardrails.policy.model_hosting`)."""
    drift: DriftThresholds = field(default_factory=DriftThresholds)
    """When a model's fallback, refusal and correction rates raise an alert (:mod:`guardrails.policy.model_drift`)."""

    @classmethod
    def from_sections(cls, sections: Sequence[tuple[str, object]], *, top_file: str | None = None,
                      source: str = "") -> ModelPolicy:
        """One model policy from ``[(file, raw models section), ...]``, top layer first.

        ``top_file`` names the top layer's file (``enterprise.yaml``); when the
        first section is not from it, every section is a lower layer narrowing the
        built-in default. With no sections at all the default applies: only the
        offline ``rules`` model, proposing nothing but reads.
        """
        items = list(sections)
        top = top_file or (items[0][0] if items else "enterprise.yaml")
        if items and items[0][0] == top:
            (_, raw), *lower = items
            approved = _parse_top(top, raw)
        else:
            lower = items
            approved = {"rules": ApprovedModel("rules", "rules", frozenset(), f"{top} (built-in default)")}
        policy = cls(approved=approved, top_file=top, source=source)
        for file, raw in lower:
            policy = policy._narrowed(file, raw)
        checked = [(file, raw) for file, raw in items if isinstance(raw, Mapping)]  # every one was checked above
        return replace(policy, hosting=ModelHosting.from_sections(checked),
                       drift=DriftThresholds.from_sections(checked, top))

    @classmethod
    def from_policy(cls, policy: Policy) -> ModelPolicy:
        """The model policy of a loaded :class:`guardrails.policy.loader.Policy`."""
        top = next((doc.file for doc in policy.layers if doc.layer == "enterprise"), "enterprise.yaml")
        return cls.from_sections([(doc.file, raw) for doc, raw in policy.sections("models")], top_file=top,
                                 source=policy.source)

    @property
    def approved_ids(self) -> tuple[str, ...]:
        """Ids of the approved models, sorted."""
        return tuple(sorted(self.approved))

    def check(self, spec: ModelSpec) -> ApprovedModel:
        """The approval of ``spec``; :class:`ModelNotApproved` (naming the file to change) if none."""
        found = self.approved.get(spec.id)
        if found is not None:
            return found
        where = f"{self.top_file} in {self.source}" if self.source else self.top_file
        if spec.id in self.removed_by:
            file = self.removed_by[spec.id]
            raise ModelNotApproved(spec.id, self.approved_ids, file, f"the policy layer {file} removes it")
        raise ModelNotApproved(spec.id, self.approved_ids, where, f"{self.top_file} does not list it under "
                                                                  "models.approved")

    def _narrowed(self, file: str, raw: object) -> ModelPolicy:
        section = _section(file, raw, _LOWER_KEYS)
        approved = dict(self.approved)
        removed = dict(self.removed_by)
        for i, model_id in enumerate(_list(file, "models.remove", section.get("remove"))):
            if not isinstance(model_id, str) or not model_id:
                raise ModelPolicyError(file, f"models.remove[{i}]", f"must be a model id, got {model_id!r}")
            if model_id not in approved and model_id not in removed:
                shown = ", ".join(sorted(approved))
                raise ModelPolicyError(file, f"models.remove[{i}]",
                                       f"model {model_id!r} is not approved above (approved: {shown})")
            if approved.pop(model_id, None) is not None:
                removed[model_id] = file
        if "approved" in section:
            kept: dict[str, ApprovedModel] = {}
            for i, entry in enumerate(_list(file, "models.approved", section["approved"])):
                model, explicit = _parse_entry(file, f"models.approved[{i}]", entry)
                upper = approved.get(model.id)
                if upper is None:
                    raise ModelPolicyLoosening(file, f"models.approved[{i}]",
                                               f"would approve {model.id!r}, which the layers above do not")
                extra = sorted(model.risk_classes - upper.risk_classes)
                if explicit and extra:
                    raise ModelPolicyLoosening(file, f"models.approved[{i}].risk_classes",
                                               f"would let {model.id!r} propose {extra[0]!r}, "
                                               "which the layers above do not allow")
                classes = model.risk_classes if explicit else upper.risk_classes
                kept[model.id] = ApprovedModel(upper.id, upper.provider, classes, upper.approved_in,
                                               upper.description)
            for model_id in sorted(set(approved) - set(kept)):
                removed[model_id] = file
            approved = kept
        return ModelPolicy(approved=approved, top_file=self.top_file, removed_by=removed, source=self.source,
                           hosting=self.hosting, drift=self.drift)


def _section(file: str, raw: object, keys: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ModelPolicyError(file, "models",
                               f"must be a mapping with {sorted(keys)}, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in keys)
    if unknown:
        raise ModelPolicyError(file, f"models.{unknown[0]}", f"unknown key; allowed here: {sorted(keys)}")
    return raw


def _list(file: str, key: str, value: object) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ModelPolicyError(file, key, f"must be a list, got {type(value).__name__}")
    return value


def _parse_top(file: str, raw: object) -> dict[str, ApprovedModel]:
    section = _section(file, raw, _TOP_KEYS)
    approved: dict[str, ApprovedModel] = {}
    for i, entry in enumerate(_list(file, "models.approved", section.get("approved"))):
        model, _ = _parse_entry(file, f"models.approved[{i}]", entry)
        if model.id in approved:
            raise ModelPolicyError(file, f"models.approved[{i}].id", f"model {model.id!r} is listed twice")
        approved[model.id] = model
    return approved


def _parse_entry(file: str, key: str, entry: object) -> tuple[ApprovedModel, bool]:
    """One ``approved`` entry, and whether it sets ``risk_classes`` (a lower layer omits it to keep them)."""
    if not isinstance(entry, Mapping):
        raise ModelPolicyError(file, key, f"must be a mapping with id, provider, risk_classes; got {entry!r}")
    unknown = sorted(str(k) for k in entry if k not in _ENTRY_KEYS)
    if unknown:
        raise ModelPolicyError(file, f"{key}.{unknown[0]}", f"unknown key; allowed: {sorted(_ENTRY_KEYS)}")
    model_id = entry.get("id")
    if not isinstance(model_id, str):
        raise ModelPolicyError(file, f"{key}.id",
                               f"must be a model id like 'openai:gpt-4o-mini', got {model_id!r}")
    try:
        spec = ModelSpec.parse(model_id, variable=f"{file}: {key}.id")
    except ModelConfigError as exc:
        raise ModelPolicyError(file, f"{key}.id", exc.message) from None
    if spec.id != model_id.strip():
        raise ModelPolicyError(file, f"{key}.id", f"write the id as {spec.id!r}, got {model_id!r}")
    provider = entry.get("provider", spec.provider)
    if provider != spec.provider:
        raise ModelPolicyError(file, f"{key}.provider", f"{provider!r} does not match the id {spec.id!r} "
                                                        f"(provider {spec.provider!r})")
    classes = entry.get("risk_classes")
    risk = frozenset(_list(file, f"{key}.risk_classes", classes))
    for name in sorted(str(r) for r in risk):
        if name not in RISK_CLASSES:
            raise ModelPolicyError(file, f"{key}.risk_classes", f"unknown risk class {name!r}; "
                                                                f"known: {list(RISK_CLASSES)}")
    description = entry.get("description", "")
    if not isinstance(description, str):
        raise ModelPolicyError(file, f"{key}.description", "must be text")
    return ApprovedModel(spec.id, spec.provider, risk - {"read"}, file, description), classes is not None
