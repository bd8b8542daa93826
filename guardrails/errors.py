"""The error tree of the guardrail layer, and its control-flow signals.

Errors mean something is wrong (bad policy, unknown user, broken audit chain).
Signals (:class:`ApprovalRequired`) mean the run must pause for a person; they
are kept apart so nobody catches one as the other.
"""

from __future__ import annotations

from collections.abc import Sequence

from knowledge.errors import JidokaError

__all__ = [
    "ActionDecisionIncomplete",
    "AlreadyDecided",
    "ApprovalError",
    "AuditAnchorError",
    "AuditChainConflict",
    "AuditError",
    "AuditEventInvalid",
    "AuditKeyInvalid",
    "AuditSchemaMissing",
    "BindingMismatch",
    "ConcurrentDecision",
    "GuardrailError",
    "InvalidTransition",
    "ModelConfigError",
    "ModelEndpointNotAllowed",
    "ModelNotApproved",
    "ModelPolicyError",
    "ModelPolicyLoosening",
    "NotEligible",
    "PolicyError",
    "PolicyLoosening",
    "PublicationError",
    "RequestExpired",
    "RequestNotFound",
    "ScreeningInputError",
    "SeparationOfDuties",
    "SignalConflict",
    "SignalError",
    "SignalNotFound",
    "SignalResponseRefused",
    "ToolOutcomeEmpty",
    "UnknownRiskClass",
    "UnknownUser",
]


class GuardrailError(JidokaError):
    """Base of every error raised by the guardrail layer."""


class PolicyError(GuardrailError):
    """A policy file cannot be loaded or is invalid; names the file and key."""

    def __init__(self, file: str, key: str, message: str) -> None:
        self.file = file
        self.key = key
        self.message = message
        super().__init__(f"{file}: {key}: {message}")


class PolicyLoosening(PolicyError):
    """A lower policy layer tries to loosen what a higher layer set."""


class UnknownUser(GuardrailError):
    """The user id is not in the policy's users."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        super().__init__(f"unknown user {user_id!r}: not in the policy's users")


class AuditError(GuardrailError):
    """The audit log could not be written or read."""


class AuditEventInvalid(AuditError):
    """An audit event cannot be recorded as given (unknown kind, empty id, payload not JSON)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"invalid audit event: {field}: {message}")


class AuditSchemaMissing(AuditError):
    """The state database has no audit tables (or no chain head row); ``create_schema()`` was never run."""


class AuditChainConflict(AuditError):
    """An append could not extend the chain: the stored head is out of step with the rows.

    The unique ``seq`` backstop fired, which only happens when rows were written
    outside :class:`guardrails.audit.log.AuditLog` (tampering); run ``jidoka audit verify``.
    """


class AuditAnchorError(AuditError):
    """The anchor of the audit chain (signed checkpoints outside the database) cannot be written or read."""


class AuditKeyInvalid(AuditError, ValueError):
    """A signing or verify key of the audit anchor cannot be used; names the variable, never the key itself."""

    def __init__(self, variable: str, message: str) -> None:
        self.variable = variable
        self.message = message
        super().__init__(f"{variable}: {message}")


class ToolOutcomeEmpty(GuardrailError):
    """A tool outcome holds neither a result nor a refusal (only one built outside ``GovernedTools`` can)."""

    def __init__(self, tool: str) -> None:
        self.tool = tool
        super().__init__(f"the outcome of the {tool} call holds neither a result nor a refusal")


class ActionDecisionIncomplete(GuardrailError):
    """An action decision that allows the action or routes it to approvers lacks its subject or route.

    The gate sets both for every such decision; only one built by hand can lack them.
    """

    def __init__(self, action: str, effect: str) -> None:
        self.action = action
        self.effect = effect
        super().__init__(f"the {effect} decision on {action} has no subject or no route, so it cannot be planned")


class ScreeningInputError(GuardrailError, TypeError):
    """Screening or spotlighting was called with a malformed argument; ``argument`` names it."""

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        self.message = message
        super().__init__(f"screening: invalid argument {argument!r}: {message}")


class ApprovalError(GuardrailError):
    """An approval request cannot be created, read, decided or executed as asked.

    ``request_id`` names the request (``None`` before one exists); the message
    is one sentence a person can act on.
    """

    def __init__(self, request_id: str | None, message: str) -> None:
        self.request_id = request_id
        self.message = message
        super().__init__(message)


class RequestNotFound(ApprovalError):
    """No approval request has this id."""


class NotEligible(ApprovalError):
    """The user holds none of the roles (or not the site) an open approver group of the request needs."""


class SeparationOfDuties(ApprovalError):
    """The requester tried to decide their own request, or one person tried to decide a request twice."""


class AlreadyDecided(ApprovalError):
    """The request is no longer pending (approved, rejected, executed ...); ``status`` says which."""

    def __init__(self, request_id: str, status: str, message: str) -> None:
        self.status = status
        super().__init__(request_id, message)


class RequestExpired(ApprovalError):
    """The request passed its ``expires_at`` before it was decided; nothing will execute."""


class ConcurrentDecision(ApprovalError):
    """Someone else changed the request between reading and deciding it (optimistic ``version`` check)."""


class InvalidTransition(ApprovalError):
    """A status change the request's lifecycle does not allow (e.g. executing a rejected request)."""


class BindingMismatch(ApprovalError):
    """What is about to execute differs from what was approved (action, arguments, requester or thread).

    ``field`` names the first thing that differs.
    """

    def __init__(self, request_id: str, field: str, message: str) -> None:
        self.field = field
        super().__init__(request_id, message)


class PublicationError(ApprovalError):
    """A publication request cannot be settled as asked (it is another action's request, or its stored
    arguments no longer match what was approved)."""


class ModelConfigError(GuardrailError, ValueError):
    """A model setting (``JIDOKA_MODEL``, ``OPENAI_BASE_URL``, ...) cannot be used; names the variable."""

    def __init__(self, variable: str, message: str) -> None:
        self.variable = variable
        self.message = message
        super().__init__(f"{variable}: {message}")


class ModelPolicyError(PolicyError):
    """The ``models:`` section of a policy file is invalid; names the file and key."""


class ModelPolicyLoosening(ModelPolicyError, PolicyLoosening):
    """A lower policy layer tries to approve a model or a risk class the layers above do not."""


class ModelNotApproved(GuardrailError):
    """The configured model is not approved by the policy; nothing may run with it."""

    def __init__(self, model_id: str, approved: Sequence[str], file: str, reason: str) -> None:
        self.model_id = model_id
        """The refused model, as written in ``JIDOKA_MODEL`` (e.g. ``openai:gpt-4o``)."""
        self.approved = tuple(approved)
        """Ids of the models the policy approves."""
        self.file = file
        """The policy file to change to approve the model."""
        self.reason = reason
        """Why: which layer does not list it or removes it."""
        shown = ", ".join(self.approved) or "none"
        super().__init__(f"model {model_id!r} is not approved: {reason}. Approved models: {shown}. "
                         f"To use it, change {file} (section `models:`), "
                         "or set JIDOKA_MODEL to an approved model.")


class ModelEndpointNotAllowed(GuardrailError):
    """The configured model would be reached at an endpoint the policy's ``models.hosting`` rules do not allow."""

    def __init__(self, model_id: str, endpoint: str, allowed: Sequence[str], file: str) -> None:
        self.model_id = model_id
        self.endpoint = endpoint
        """The refused endpoint, normalised (never with the user name or password of ``OPENAI_BASE_URL``)."""
        self.allowed = tuple(allowed)
        """The allowed endpoint entries, as written in the policy."""
        self.file = file
        """The policy file whose list applies."""
        shown = ", ".join(self.allowed) or "none"
        super().__init__(f"model {model_id!r} may not be reached at {endpoint}: the policy's models.hosting "
                         f"({file}) allows only {shown}. Set OPENAI_BASE_URL to an allowed endpoint, or change "
                         "the policy.")


class UnknownRiskClass(GuardrailError, ValueError):
    """A risk class that is not one of the tool risk classes (read, advisory, approval, autonomous)."""

    def __init__(self, risk_class: str, known: Sequence[str]) -> None:
        self.risk_class = risk_class
        super().__init__(f"unknown risk class {risk_class!r}; known: {', '.join(known)}")


class SignalError(GuardrailError):
    """A monitoring signal cannot be read or responded to as asked."""

    code = "signal_error"
    """A stable name for the audit and the API."""


class SignalNotFound(SignalError):
    """No such signal (or none the caller may see: the two read the same)."""

    code = "signal_not_found"

    def __init__(self, signal_id: str) -> None:
        self.signal_id = signal_id
        super().__init__(f"no signal {signal_id!r}")


class SignalConflict(SignalError):
    """The signal changed while it was being updated; read it again."""

    code = "signal_conflict"

    def __init__(self, signal_id: str) -> None:
        self.signal_id = signal_id
        super().__init__(f"signal {signal_id} changed meanwhile; read it again")


class SignalResponseRefused(SignalError):
    """A person may not respond to a signal this way (not its role, already closed, no reason ...)."""

    code = "signal_response_refused"

    def __init__(self, signal_id: str, reason: str, rule_id: str) -> None:
        self.signal_id = signal_id
        self.reason = reason
        self.rule_id = rule_id
        super().__init__(f"{reason} [{rule_id}]")
