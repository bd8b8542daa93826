"""The semantic stage of the rules model: a question the lexical cues do not place is matched against example
utterances per intent (``data/examples.yaml``) with sentence embeddings (the MiniLM model the knowledge base ships).

Deterministic: the same question and examples give the same vectors and the same answer. Nearest neighbours with
a margin: the best intent wins when its score clears ``threshold`` and beats the runner-up by ``margin``; when two
intents are practically tied (within ``ask_margin``), the planner asks which one was meant (naming both); in
between, and below the threshold, nothing is guessed.
Record ids are masked to their kind first ("LOT-P100-0404" → "lot"), so examples generalise over records; the
slots themselves still come from entity resolution against the plant. The examples are embedded once, on the
first question that needs this stage; a question the cues place never pays for an embedding.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from agent.rules.vocab import load_yaml

__all__ = ["ExampleIndex", "SemanticMatch", "mask_ids"]

_ID_KINDS = (
    (re.compile(r"\bLOT-P\d{3}-\d+\b", re.I), "lot"),
    (re.compile(r"\bPO-\d+(?:/\d+)?\b", re.I), "purchase order"),
    (re.compile(r"\bSO-\d+\b", re.I), "sales order"),
    (re.compile(r"\bWO-\d+\b", re.I), "work order"),
    (re.compile(r"\bMO-\d+\b", re.I), "maintenance order"),
    (re.compile(r"\bQE-\d+\b", re.I), "quality event"),
    (re.compile(r"\bAS-\d+\b", re.I), "asset"),
    (re.compile(r"\bS-\d{3}\b", re.I), "supplier"),
    (re.compile(r"\b(?:FG|CP|RM|PK|SP)-\d+\b", re.I), "item"),
    (re.compile(r"\bP\d{3}-[A-Z]+\d+(?:-\d+)?\b", re.I), "line"),
    (re.compile(r"\bP[12]00\b", re.I), "site"),
)


def mask_ids(text: str) -> str:
    """``text`` with record ids replaced by the word for their kind (examples and questions alike)."""
    for pattern, word in _ID_KINDS:
        text = pattern.sub(word, text)
    return " ".join(text.split())


class Embedder(Protocol):
    """What the stage needs of an embedding model (``knowledge.embeddings.MiniLMEmbedder`` provides it)."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length vectors of ``texts``."""
        ...


@dataclass(frozen=True)
class SemanticMatch:
    """The nearest intents of a question by example similarity."""

    intent: str
    score: float
    runner_up: str | None
    runner_score: float
    decided: bool
    """True when ``intent`` clears the threshold and the margin; False when it and the runner-up are tied."""


class ExampleIndex:
    """Example utterances per intent and their vectors (built on first use)."""

    def __init__(self, embedder: Embedder, data: Mapping[str, Any] | None = None,
                 known: Sequence[str] | None = None) -> None:
        raw = dict(data) if data is not None else load_yaml("examples.yaml")
        self.threshold = float(raw.get("threshold", 0.5))
        self.margin = float(raw.get("margin", 0.08))
        self.ask_margin = float(raw.get("ask_margin", 0.02))
        self.top_k = int(raw.get("top_k", 3))
        allowed = set(known) if known is not None else None
        pairs = [(intent, mask_ids(str(text))) for intent, texts in (raw.get("intents") or {}).items()
                 if allowed is None or intent in allowed for text in texts or ()]
        self.intents = [p[0] for p in pairs]
        self.texts = [p[1] for p in pairs]
        self._embedder = embedder
        self._matrix: np.ndarray | None = None
        self.embedded_questions = 0
        """How many questions needed this stage (each costs one embedding)."""

    def _vectors(self) -> np.ndarray:
        if self._matrix is None:
            self._matrix = np.asarray(self._embedder.embed(self.texts), dtype=np.float32) if self.texts \
                else np.zeros((0, 384), dtype=np.float32)
        return self._matrix

    def match(self, question: str) -> SemanticMatch | None:
        """The nearest intent of ``question``; ``None`` when no intent is near enough."""
        matrix = self._vectors()
        if not len(matrix):
            return None
        self.embedded_questions += 1
        query = np.asarray(self._embedder.embed([mask_ids(question)])[0], dtype=np.float32)
        sims = matrix @ query
        per_intent: dict[str, list[float]] = {}
        for intent, sim in zip(self.intents, sims.tolist(), strict=True):
            per_intent.setdefault(intent, []).append(sim)
        # An intent's score: the mean of its top-k examples (one lucky example does not win alone).
        scores = sorted(((float(np.mean(sorted(v, reverse=True)[:self.top_k])), k) for k, v in per_intent.items()),
                        key=lambda s: (-s[0], s[1]))
        best, intent = scores[0]
        if best < self.threshold:
            return None
        runner_score, runner = scores[1] if len(scores) > 1 else (0.0, None)
        gap = best - runner_score
        if runner is None or gap >= self.margin:
            return SemanticMatch(intent, round(best, 4), runner, round(runner_score, 4), True)
        if gap < self.ask_margin and runner_score >= self.threshold:
            return SemanticMatch(intent, round(best, 4), runner, round(runner_score, 4), False)
        return None  # neither clearly one intent nor a true tie between two: no guess
