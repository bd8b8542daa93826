"""Model hosting rules: which endpoints an ``openai`` model may be reached at, layered, checked at start-up."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrails.errors import ModelEndpointNotAllowed, ModelPolicyError, ModelPolicyLoosening, PolicyError
from guardrails.policy.loader import default_policy_dir, load_policy
from guardrails.policy.model_hosting import ModelHosting
from guardrails.policy.models import ModelPolicy
from tests.server.cli.cli_helpers import run_cli

TOP = {"approved": [{"id": "rules", "provider": "rules", "risk_classes": ["advisory"]},
                    {"id": "openai:gpt-4o-mini", "provider": "openai", "risk_classes": ["advisory"]}],
       "hosting": {"allowed_endpoints": ["https://api.openai.com/v1", "http://127.0.0.1:*", "https://*.corp.example"]}}


def _hosting(*lower: dict[str, Any]) -> ModelHosting:
    sections = [("enterprise.yaml", TOP), *((f"plants/p{i}.yaml", raw) for i, raw in enumerate(lower))]
    return ModelPolicy.from_sections(sections, top_file="enterprise.yaml").hosting


@pytest.mark.parametrize("base_url", [
    None,  # the OpenAI client's default endpoint
    "https://api.openai.com/v1", "https://api.openai.com/v1/", "https://API.openai.com:443/v1",
    "http://127.0.0.1:8000/v1", "http://127.0.0.1/v1", "http://jidoka:secret@127.0.0.1:9/v1",
    "https://llm.corp.example/v1", "https://a.b.corp.example",
])
def test_allowed_endpoints_pass(base_url: str | None) -> None:
    _hosting().check("openai:gpt-4o-mini", base_url)


@pytest.mark.parametrize("base_url", [
    "https://evil.example.com/v1",
    "https://api.openai.com/v2",  # another path
    "https://api.openai.com/v10",  # a path prefix only at a segment boundary
    "https://api.openai.com:8443/v1",  # another port
    "http://api.openai.com/v1",  # another scheme
    "https://127.0.0.1:8000/v1",
    "https://corp.example/v1",  # *.corp.example is its subdomains only
    "https://evilcorp.example/v1",
    "http://127.0.0.1.evil.example/v1",
    "not a url",
])
def test_other_endpoints_are_refused_without_the_password(base_url: str) -> None:
    with pytest.raises(ModelEndpointNotAllowed) as info:
        _hosting().check("openai:gpt-4o-mini", base_url)
    assert info.value.file == "enterprise.yaml"
    assert "https://api.openai.com/v1" in str(info.value) and "OPENAI_BASE_URL" in str(info.value)
    refused = _hosting()
    with pytest.raises(ModelEndpointNotAllowed) as with_password:
        refused.check("openai:gpt-4o-mini", base_url.replace("://", "://user:hunter2@", 1))
    assert "hunter2" not in str(with_password.value)


def test_a_lower_layer_narrows_and_its_list_replaces_the_one_above() -> None:
    hosting = _hosting({"hosting": {"allowed_endpoints": ["http://127.0.0.1:8000", "https://llm.corp.example/v1"]}})
    hosting.check("m", "http://127.0.0.1:8000/v1")
    hosting.check("m", "https://llm.corp.example/v1/")
    for refused in (None, "http://127.0.0.1:8001/v1", "https://other.corp.example/v1"):
        with pytest.raises(ModelEndpointNotAllowed, match=r"plants/p0\.yaml"):
            hosting.check("m", refused)


@pytest.mark.parametrize("entry", ["https://other.example/v1", "http://127.0.0.1.nip.io:*", "https://corp.example",
                                   "https://api.openai.com", "https://*.example", "http://localhost:*"])
def test_a_lower_layer_cannot_widen(entry: str) -> None:
    with pytest.raises(ModelPolicyLoosening) as info:
        _hosting({"hosting": {"allowed_endpoints": [entry]}})
    assert (info.value.file, info.value.key) == ("plants/p0.yaml", "models.hosting.allowed_endpoints[0]")


def test_without_hosting_rules_every_endpoint_is_allowed_and_a_plant_may_add_them() -> None:
    open_policy = ModelPolicy.from_sections([("enterprise.yaml", {"approved": TOP["approved"]})]).hosting
    assert open_policy.allowed is None
    open_policy.check("m", "https://anywhere.example/v1")
    narrowed = ModelPolicy.from_sections([("enterprise.yaml", {"approved": TOP["approved"]}),
                                          ("plants/p.yaml", {"hosting": {"allowed_endpoints": []}})]).hosting
    with pytest.raises(ModelEndpointNotAllowed, match="allows only none"):
        narrowed.check("m", None)


@pytest.mark.parametrize(("hosting", "key", "fragment"), [
    ({"allowed": []}, "models.hosting", "allowed_endpoints"),
    ({"allowed_endpoints": "https://x"}, "models.hosting.allowed_endpoints", "must be a list"),
    ({"allowed_endpoints": ["ftp://x"]}, "models.hosting.allowed_endpoints[0]", "http or https"),
    ({"allowed_endpoints": ["api.openai.com"]}, "models.hosting.allowed_endpoints[0]", "must be an endpoint"),
    ({"allowed_endpoints": ["https://u:p@x.example"]}, "models.hosting.allowed_endpoints[0]", "no user"),
    ({"allowed_endpoints": ["https://x.example:99999"]}, "models.hosting.allowed_endpoints[0]", "port"),
    ({"allowed_endpoints": ["https://a.*.example"]}, "models.hosting.allowed_endpoints[0]", "host"),
    ({"allowed_endpoints": [7]}, "models.hosting.allowed_endpoints[0]", "must be an endpoint"),
])
def test_bad_hosting_rules_name_file_and_key(hosting: Any, key: str, fragment: str) -> None:
    with pytest.raises(ModelPolicyError) as info:
        ModelPolicy.from_sections([("enterprise.yaml", {"approved": TOP["approved"], "hosting": hosting})])
    assert (info.value.file, info.value.key) == ("enterprise.yaml", key)
    assert fragment in info.value.message
    assert isinstance(info.value, PolicyError)


def test_the_shipped_policy_allows_openai_and_loopback_servers_only() -> None:
    hosting = ModelPolicy.from_policy(load_policy()).hosting
    for allowed in (None, "http://127.0.0.1:11434/v1", "http://localhost:8000/v1", "http://[::1]:8000/v1"):
        hosting.check("openai:gpt-4o-mini", allowed)
    with pytest.raises(ModelEndpointNotAllowed):
        hosting.check("openai:gpt-4o-mini", "http://10.0.0.5:8000/v1")


def test_a_disallowed_endpoint_refuses_at_start_up_before_any_turn(
        demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    folder = tmp_path / "policy"
    shutil.copytree(default_policy_dir(), folder)
    plant = next((folder / "plants").glob("*.yaml"))
    data = yaml.safe_load(plant.read_text())
    data["models"] = {"hosting": {"allowed_endpoints": ["http://127.0.0.1:8000"]}}
    plant.write_text(yaml.safe_dump(data, allow_unicode=True))

    code, out, err = run_cli(["ask", "--as", "pat.planner", "stock of FG-1001"], home, monkeypatch, capsys,
                             JIDOKA_MODEL="openai:gpt-4o-mini", JIDOKA_POLICY_DIR=str(folder),
                             OPENAI_BASE_URL="http://127.0.0.1:9000/v1")

    assert code == 1 and out == ""
    assert "may not be reached at http://127.0.0.1:9000/v1" in err and f"plants/{plant.name}" in err
    assert "Traceback" not in err
    with sqlite3.connect(home / "state.db") as db:  # refused before any turn: nothing audited or checkpointed
        assert db.execute("SELECT count(*) FROM audit_events").fetchone() == (0,)


def test_policy_check_shows_the_endpoints_and_fails_on_a_bad_hosting_rule(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from server.cli import build_app

    folder = tmp_path / "policy"
    shutil.copytree(default_policy_dir(), folder)
    env = {"JIDOKA_HOME": str(tmp_path / "home")}
    ok = CliRunner().invoke(build_app(), ["policy", "check", str(folder)], env=env)
    assert ok.exit_code == 0 and "http://127.0.0.1:*" in ok.stdout
    text = (folder / "enterprise.yaml").read_text()
    assert text.count("      - http://localhost:*\n") == 1
    (folder / "enterprise.yaml").write_text(text.replace("      - http://localhost:*\n", "      - ftp://localhost\n"))
    bad = CliRunner().invoke(build_app(), ["policy", "check", str(folder)], env=env)
    assert bad.exit_code == 1
    assert "models.hosting.allowed_endpoints[2]" in bad.output and "http or https" in bad.output


def test_openai_embeddings_at_a_disallowed_endpoint_refuse_at_start_up(tmp_path: Path) -> None:
    from server.runtime import build_runtime
    from server.settings import Settings

    settings = Settings.from_env({"JIDOKA_HOME": str(tmp_path / "home"), "JIDOKA_EMBEDDINGS": "openai:text-embed",
                                  "OPENAI_BASE_URL": "https://embeddings.example.net/v1"})
    with pytest.raises(ModelEndpointNotAllowed, match="'openai:text-embed' may not be reached"):
        build_runtime(settings)
    assert not (tmp_path / "home").exists()  # refused before any database was opened
