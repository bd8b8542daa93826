"""Screening: prompts, plant free text and answers checked against the policy's ``screening:`` rules.

- :mod:`guardrails.screening.screen` — ``screen_input`` / ``screen_data`` / ``screen_output`` and their results;
- :mod:`guardrails.screening.rules` — the rules as data (compiled from the policy);
- :mod:`guardrails.screening.spotlight` — tool and document text wrapped as data before the model sees it;
- ``_text``, ``_engine``, ``_index``, ``_checks`` — normalisation, matching, the literal index, validators.

Detection is defence in depth: the guarantees come from the gate and the SQL scope.
"""

from guardrails.screening._text import without_controls
from guardrails.screening.rules import ScreeningRules
from guardrails.screening.screen import ScreeningResult, screen_data, screen_input, screen_output
from guardrails.screening.spotlight import screen_and_spotlight, spotlight

__all__ = ["ScreeningResult", "ScreeningRules", "screen_and_spotlight", "screen_data", "screen_input",
           "screen_output", "spotlight", "without_controls"]
