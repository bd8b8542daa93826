"""``server.secrets``: URLs without passwords, the masker of a configuration, and the log filter."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator, Sequence

import pytest

from knowledge.store import KnowledgeIndex
from server.secrets import SecretFilter, SecretMasker, install_log_masking, mask_url
from server.settings import Settings

PASSWORD = "s3cret-pg-Password"
API_KEY = "sk-s3cret-openai-key"
JWT = "s3cret-jwt-signing-key"


@pytest.mark.parametrize(("url", "shown"), [
    (f"postgresql+psycopg://jidoka:{PASSWORD}@db:5432/plant", "postgresql+psycopg://jidoka:***@db:5432/plant"),
    ("postgresql://jidoka:p%40ss%2Fw0rd@db/plant", "postgresql://jidoka:***@db/plant"),
    ("postgresql://db/plant?sslpassword=abc&application_name=jidoka",
     "postgresql://db/plant?sslpassword=***&application_name=jidoka"),
    (f"http://jidoka:{PASSWORD}@chroma:8000", "http://jidoka:***@chroma:8000"),
    (f"https://idp.example.com/jwks?access_token={PASSWORD}&x=1", "https://idp.example.com/jwks?access_token=***&x=1"),
    (f"https://u:{PASSWORD}@api.example.com/v1?api_key=k1", "https://u:***@api.example.com/v1?api_key=***"),
    ("sqlite:////var/jidoka/plant.db", "sqlite:////var/jidoka/plant.db"),
    ("postgresql://jidoka@db/plant", "postgresql://jidoka@db/plant"),
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
    ("/var/jidoka/knowledge", "/var/jidoka/knowledge"),
], ids=["pg", "pg-escaped", "pg-query", "http-userinfo", "http-token", "http-both", "sqlite", "pg-no-password",
        "http-plain", "path"])
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def _settings() -> Settings:
    return Settings.from_env({
        "JIDOKA_DATA_URL": f"postgresql+psycopg://jidoka:{PASSWORD}@db/plant",
        "JIDOKA_STATE_URL": "postgresql+psycopg://jidoka:p%40ss-state-Word@db/state",
        "JIDOKA_CHROMA_URL": "http://jidoka:chroma-Pa55@chroma:8000",
        "OPENAI_API_KEY": API_KEY, "JIDOKA_JWT_SECRET": JWT,
    })


def test_the_masker_of_the_settings_hides_every_secret_anywhere_in_a_text() -> None:
    masker = SecretMasker.from_settings(_settings())
    text = (f"failed with {PASSWORD} (state p@ss-state-Word, raw p%40ss-state-Word); chroma said chroma-Pa55; "
            f"Authorization: Bearer {API_KEY}; signed with {JWT}; conninfo host=db password=unknown-one user=x")
    masked = masker.mask(text)
    for secret in (PASSWORD, "p@ss-state-Word", "p%40ss-state-Word", "chroma-Pa55", API_KEY, JWT, "unknown-one"):
        assert secret not in masked
    assert masked == ("failed with *** (state ***, raw ***); chroma said ***; Authorization: Bearer ***; "
                      "signed with ***; conninfo host=db password=*** user=x")
    assert SecretMasker.from_env({"JIDOKA_DATA_URL": f"postgresql://u:{PASSWORD}@db/x", "JIDOKA_JWT_SECRET": JWT,
                                  "JIDOKA_TODAY": "not a date"}).secrets == (JWT, PASSWORD)


def test_short_secrets_are_masked_in_urls_only_and_a_longer_one_first() -> None:
    masker = SecretMasker.of(urls=["postgresql://u:ab@db/x"], values=["token-1", "token-12"])
    assert masker.mask("a cab at postgresql://u:ab@db/x") == "a cab at postgresql://u:***@db/x"
    assert masker.mask("token-12 and token-1") == "*** and ***"


def test_settings_repr_shows_no_secret() -> None:
    shown = repr(_settings())
    assert "jidoka:***@db/plant" in shown and "http://jidoka:***@chroma:8000" in shown
    for secret in (PASSWORD, "p%40ss-state-Word", "chroma-Pa55", API_KEY, JWT):
        assert secret not in shown and secret not in str(_settings())


class _Embedder:
    name = "fake"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [[1.0] for _ in texts]


def test_the_knowledge_index_location_shows_no_password() -> None:
    index = KnowledgeIndex(_Embedder(), url=f"http://jidoka:{PASSWORD}@chroma:8000")
    assert index.location == "http://jidoka:***@chroma:8000"


def _record(msg: object, args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("jidoka.test", logging.ERROR, __file__, 1, msg, args, exc_info)  # type: ignore[arg-type]


def test_the_filter_masks_message_arguments_and_exception() -> None:
    try:
        raise RuntimeError(f"connect to postgresql://jidoka:{PASSWORD}@db/plant failed")
    except RuntimeError as caught:
        exc = caught
    flt = SecretFilter(SecretMasker.from_settings(_settings()))
    record = _record(f"using key {API_KEY} and %s, %d rows, %s", (JWT, 3, {"url": f"http://u:{PASSWORD}@x"}), exc)
    assert flt.filter(record) is True
    text = logging.Formatter("%(message)s").format(record)
    assert "using key *** and ***, 3 rows" in text and "http://u:***@x" in text
    assert "RuntimeError: connect to postgresql://jidoka:***@db/plant failed" in text and "Traceback" in text
    for secret in (PASSWORD, API_KEY, JWT):
        assert secret not in text
    mapping = _record("%(who)s signed with %(key)s", ({"who": "pat", "key": JWT},))
    flt.filter(mapping)
    assert mapping.getMessage() == "pat signed with ***"


@pytest.fixture
def root_stream() -> Iterator[io.StringIO]:
    """A handler on the root logger writing to a string (removed afterwards)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def test_install_log_masking_filters_the_root_handlers_once(root_stream: io.StringIO) -> None:
    install_log_masking(SecretMasker.of(values=["first-secret"]))
    installed = install_log_masking(_settings())
    handler = next(h for h in logging.getLogger().handlers
                   if isinstance(h, logging.StreamHandler) and h.stream is root_stream)
    assert [f for f in handler.filters if isinstance(f, SecretFilter)] == [installed]
    logging.getLogger("jidoka.test").error("the key is %s", API_KEY)
    assert "the key is ***" in root_stream.getvalue() and API_KEY not in root_stream.getvalue()


_SERVE_LOGS = """
import json, logging, logging.config, pickle, sys
from server.cli.serve import uvicorn_log_config
from server.settings import Settings
settings = Settings.from_env(json.loads(sys.argv[1]))
# uvicorn hands the configuration to each worker process it spawns: it must survive pickling.
logging.config.dictConfig(pickle.loads(pickle.dumps(uvicorn_log_config(settings))))
try:
    raise RuntimeError("cannot connect to " + settings.data_url)
except RuntimeError:
    logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET",
                                         "/v1/x?token=" + settings.jwt_secret, "1.1", 200)
logging.getLogger("jidoka.api").warning("StoreUnavailable: signed with %s", settings.jwt_secret)
"""


def test_the_serve_log_config_masks_uvicorns_logs_and_the_apps() -> None:
    env = {"JIDOKA_DATA_URL": f"postgresql+psycopg://jidoka:{PASSWORD}@db/plant", "JIDOKA_JWT_SECRET": JWT}
    done = subprocess.run([sys.executable, "-c", _SERVE_LOGS, json.dumps(env)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    logs = done.stdout + done.stderr
    assert "RuntimeError: cannot connect to postgresql+psycopg://jidoka:***@db/plant" in logs
    assert '"GET /v1/x?token=*** HTTP/1.1" 200' in logs
    assert "WARNING:jidoka.api:StoreUnavailable: signed with ***" in logs
    assert PASSWORD not in logs and JWT not in logs
