"""The error tree of the eval suites: every failure a user can cause has a clear typed error."""

from __future__ import annotations

from knowledge.errors import JidokaError

__all__ = ["EvalError", "ModelNotSupported", "OracleError", "SuiteInvalid", "SuiteNotFound", "TemplateMissing"]


class EvalError(JidokaError):
    """Base of every eval error; the message is one clear line for the user."""


class SuiteNotFound(EvalError):
    """No suite of that name (or file) exists."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no eval suite {name!r}; known suites: {', '.join(known) or 'none'}")
        self.name = name


class SuiteInvalid(EvalError):
    """A suite file does not follow the suite format; the message names the file and the field."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


class OracleError(EvalError):
    """An oracle, picker or canary function is unknown or could not compute its facts."""


class ModelNotSupported(EvalError):
    """The ``--model`` value is not one the eval runner can drive."""


class TemplateMissing(EvalError):
    """The template JIDOKA_HOME holds no initialized plant to copy."""

    def __init__(self, home: str) -> None:
        super().__init__(f"no plant in {home} to evaluate on; run `jidoka init` first (or set JIDOKA_HOME)")
