"""A draft policy: a policy folder loaded and checked exactly as a runtime loads the live one, but never used to
govern — only to replay the audit trail under it (:mod:`guardrails.whatif.replay`).

A draft comes from a folder (``jidoka policy whatif DRAFT_DIR``) or from layer files sent over the API
(:func:`materialise_draft` writes them into a private temp folder beside the live policy's other files, so the same
loader reads them and the hash is the one a folder of those files would get).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from guardrails.approvals.routing import ApprovalRouter
from guardrails.errors import PolicyError
from guardrails.policy.loader import Policy, catalog_policy, default_policy_dir
from guardrails.policy.models import ModelPolicy
from guardrails.policy.monitoring import MonitoringRules
from guardrails.publishing.gate import PublicationGate
from tools.catalog import Catalog

__all__ = ["LAYER_PATH", "MAX_DRAFT_FILES", "DraftPolicy", "layer_files", "load_draft", "materialise_draft"]

LAYER_PATH = re.compile(r"^(?:enterprise\.yaml|(?:domains|plants)/[A-Za-z0-9_-]{1,64}\.yaml)$")
"""The file names a policy folder may hold (the loader reads exactly these): no other path, nothing outside it."""

MAX_DRAFT_FILES = 64
"""Most layer files a draft sent over the API may name (the shipped policy has 9)."""


@dataclass(frozen=True)
class DraftPolicy:
    """A loaded, validated draft: the policy and the sections a runtime parses at start-up."""

    policy: Policy
    router: ApprovalRouter
    """The draft's ``actions:`` section, parsed and checked as at start-up."""
    models: ModelPolicy
    """The draft's ``models:`` section (which model may propose which risk class)."""
    monitoring: MonitoringRules
    """The draft's ``monitoring:`` section (what the monitor may propose)."""

    @property
    def hash(self) -> str:
        """The draft's policy hash (SHA-256 over its files, as the loader computes it for the live policy)."""
        return self.policy.hash


def load_draft(directory: Path, catalog: Catalog) -> DraftPolicy:
    """Load the policy folder ``directory`` as :func:`~server.runtime.build_runtime` loads the live one: the layers
    merged enterprise → domain → plant and checked against ``catalog``, then the ``actions``, ``knowledge``,
    ``monitoring`` and ``models`` sections parsed. A draft that would not start a runtime raises
    :class:`~guardrails.errors.PolicyError` naming the file and key."""
    if not directory.is_dir():
        raise PolicyError(str(directory), "(folder)", "not a policy folder (it must hold enterprise.yaml)")
    policy = catalog_policy(directory, catalog)
    router = ApprovalRouter(policy)
    PublicationGate(policy)  # the knowledge section: a runtime would refuse to start without it valid
    monitoring = MonitoringRules.from_policy(policy)
    models = ModelPolicy.from_policy(policy)
    return DraftPolicy(policy=policy, router=router, models=models, monitoring=monitoring)


def layer_files(directory: Path | None) -> dict[str, bytes]:
    """The layer files of the policy folder ``directory`` (the shipped one for ``None``), by relative path: exactly
    the files the loader reads."""
    root = (directory or default_policy_dir()).resolve()
    paths = [root / "enterprise.yaml", *sorted((root / "domains").glob("*.yaml")),
             *sorted((root / "plants").glob("*.yaml"))]
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in paths if p.is_file()}


def materialise_draft(target: Path, layers: Mapping[str, str], *, base: Mapping[str, bytes] | None = None,
                      remove: Sequence[str] = ()) -> Path:
    """Write a draft into the empty folder ``target``: the ``base`` files (the live policy's, or none), minus
    ``remove``, with ``layers`` (relative path → YAML text) put in or replacing them. Every path must be a layer
    path (:data:`LAYER_PATH`); anything else raises :class:`PolicyError` before a byte is written."""
    names = [*layers, *remove]
    if len(layers) > MAX_DRAFT_FILES:
        raise PolicyError("(draft)", "layers", f"at most {MAX_DRAFT_FILES} layer files, got {len(layers)}")
    for name in names:
        if not LAYER_PATH.match(name):
            raise PolicyError("(draft)", name, "not a layer file: use enterprise.yaml, domains/NAME.yaml or "
                                               "plants/SITE.yaml (letters, digits, _ and -)")
    files = {n: d for n, d in (base or {}).items() if n not in remove}
    files.update({n: text.encode("utf-8") for n, text in layers.items()})
    for name, data in files.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return target
