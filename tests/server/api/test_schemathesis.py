"""schemathesis against the app's OpenAPI spec: no generated request — valid (positive) or malformed (negative)
— gets a 5xx."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from server.app import create_app
from tests.server.api.conftest import api_settings, make_token, plant_home

EXAMPLES = 6


@pytest.fixture(scope="module")
def api_schema(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = plant_home(demo_home, tmp_path_factory.mktemp("fuzz-home"))
    # A high rate limit so generated calls reach the handlers; the demo login on so its routes are exercised.
    app = create_app(api_settings(home, JIDOKA_RATE_LIMIT_PER_MIN="100000", JIDOKA_DEMO_LOGIN="1"))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_server_errors(api_schema: Any) -> None:
    # Authenticated as a user with plant data and approvals, so generated calls reach the handlers.
    headers = {"Authorization": f"Bearer {make_token('sam.supervisor', ttl=3600)}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    seen: dict[str, set[int]] = {}
    assert len(operations) >= 15

    for operation, mode in itertools.product(operations, GenerationMode):
        if mode is GenerationMode.NEGATIVE and not operation.label.startswith(("POST", "GET /v1/approvals",
                                                                                "GET /v1/audit")):
            continue  # malformed input only where there is input to malform

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  derandomize=True)
        def run(case: Any) -> None:
            response = case.call(headers=headers)
            seen.setdefault(operation.label, set()).add(response.status_code)  # noqa: B023 (run() runs right here)
            case.validate_response(response, checks=[not_a_server_error])

        run()

    # Every operation was called, and the calls were not all bounced at the door.
    assert set(seen) == {op.label for op in operations}
    assert any(200 in codes for codes in seen.values()) and any(422 in codes for codes in seen.values())
