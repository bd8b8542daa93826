"""The users' answer language: an optional ``language`` on a user of enterprise.yaml (en or es, default en).

It is part of the user's record, so like the rest of the record only the enterprise layer sets it: a plant or
domain layer may neither add users nor change one's language.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from guardrails.errors import PolicyError
from guardrails.identity import LANGUAGES, User
from guardrails.policy.loader import default_policy_dir, load_policy


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(default_policy_dir(), target)
    return target


def _edit_enterprise(policy_dir: Path, user_id: str, **changes: object) -> None:
    path = policy_dir / "enterprise.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["users"][user_id].update(changes)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


def test_the_monterrey_users_are_answered_in_spanish_everyone_else_in_english() -> None:
    policy = load_policy()
    spanish = {u for u, user in policy.users.items() if user.language == "es"}
    assert spanish == {"paz.planner", "qiu.quality", "sol.supervisor"}
    assert all(user.language == "en" for u, user in policy.users.items() if u not in spanish)
    assert set(LANGUAGES) == {"en", "es"} and LANGUAGES[0] == "en"


def test_language_defaults_to_english_for_users_built_in_code() -> None:
    assert User("x", "X", frozenset({"planner"}), None).language == "en"


def test_a_user_without_language_gets_english(policy_dir: Path) -> None:
    path = policy_dir / "enterprise.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["users"]["paz.planner"].pop("language")
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    assert load_policy(policy_dir).user("paz.planner").language == "en"


@pytest.mark.parametrize("bad", ["fr", "ES", "", 1, ["es"]])
def test_an_unknown_language_is_rejected_naming_the_key(policy_dir: Path, bad: object) -> None:
    _edit_enterprise(policy_dir, "pat.planner", language=bad)
    with pytest.raises(PolicyError) as info:
        load_policy(policy_dir)
    assert info.value.file == "enterprise.yaml"
    assert info.value.key == "users.pat.planner.language"
    assert "must be one of ['en', 'es']" in info.value.message


def test_a_misspelt_user_key_is_rejected_rather_than_ignored(policy_dir: Path) -> None:
    _edit_enterprise(policy_dir, "pat.planner", langauge="es")
    with pytest.raises(PolicyError) as info:
        load_policy(policy_dir)
    assert info.value.key == "users.pat.planner.langauge" and "unknown key" in info.value.message


@pytest.mark.parametrize("file", ["plants/P200.yaml", "domains/quality.yaml"])
def test_a_lower_layer_may_not_set_a_users_language(policy_dir: Path, file: str) -> None:
    path = policy_dir / file
    doc = yaml.safe_load(path.read_text())
    doc["users"] = {"pat.planner": {"language": "es"}}
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    with pytest.raises(PolicyError) as info:
        load_policy(policy_dir)
    assert info.value.file == file and info.value.key == "users"
    assert "not even their language" in info.value.message


def test_the_language_is_part_of_the_policy_hash_and_its_description(policy_dir: Path) -> None:
    before = load_policy(policy_dir)
    _edit_enterprise(policy_dir, "pat.planner", language="es")
    after = load_policy(policy_dir)
    assert after.hash != before.hash and after.user("pat.planner").language == "es"
    assert after.describe()["users"]["pat.planner"]["language"] == "es"
    assert after.describe(after.user("paz.planner"))["user"]["language"] == "es"
