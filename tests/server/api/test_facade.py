"""The OpenAI-compatible facade, driven by the official ``openai`` client against a real uvicorn server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import uvicorn

from server.app import create_app
from tests.server.api.conftest import api_settings, make_token, plant_home

QUESTION = "which items are below their reorder point at P100?"


@pytest.fixture(scope="module")
def base_url(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A uvicorn server on a free loopback port, running in a thread for this module."""
    home = plant_home(demo_home, tmp_path_factory.mktemp("facade-home"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(api_settings(home)), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(timeout=10)


def _client(base_url: str, user: str = "pat.planner", **kw: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=make_token(user, **kw), max_retries=0, timeout=60)  # type: ignore[arg-type]


def test_completion_is_the_governed_answer(base_url: str) -> None:
    completion = _client(base_url).chat.completions.create(
        model="jidoka", messages=[{"role": "system", "content": "You are helpful."},
                                  {"role": "user", "content": QUESTION}], temperature=0.2)
    assert completion.object == "chat.completion" and completion.model == "jidoka"
    answer = completion.choices[0].message.content or ""
    assert "below their reorder minimum at P100" in answer and completion.choices[0].finish_reason == "stop"
    extra = completion.model_extra or {}
    assert extra["jidoka"]["tool_calls"][0]["decision"] == "allow"
    assert extra["jidoka"]["thread_id"].startswith("th-") and completion.id == f"chatcmpl-{extra['jidoka']['trace_id']}"

    # metadata.thread_id continues the thread.
    follow = _client(base_url).chat.completions.create(
        model="jidoka", messages=[{"role": "user", "content": "and the late work orders at P100?"}],
        metadata={"thread_id": extra["jidoka"]["thread_id"]})
    assert (follow.model_extra or {})["jidoka"]["thread_id"] == extra["jidoka"]["thread_id"]


def test_streamed_completion_joins_to_the_same_answer(base_url: str) -> None:
    client = _client(base_url)
    whole = client.chat.completions.create(model="jidoka", messages=[{"role": "user", "content": QUESTION}])
    stream = client.chat.completions.create(model="jidoka", messages=[{"role": "user", "content": QUESTION}],
                                            stream=True)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole.choices[0].message.content
    assert len(chunks) > 3


def test_errors_come_as_openai_errors(base_url: str) -> None:
    with pytest.raises(openai.AuthenticationError):
        _client(base_url, ttl=-60).chat.completions.create(model="jidoka", messages=[{"role": "user",
                                                                                        "content": QUESTION}])
    with pytest.raises(openai.AuthenticationError):
        _client(base_url, user="mallory").models.list()
    with pytest.raises(openai.NotFoundError) as missing:
        _client(base_url).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    assert "jidoka" in str(missing.value)
    with pytest.raises(openai.UnprocessableEntityError):
        _client(base_url).chat.completions.create(model="jidoka", messages=[{"role": "assistant", "content": "hi"}])
    assert [m.id for m in _client(base_url).models.list()] == ["jidoka"]
