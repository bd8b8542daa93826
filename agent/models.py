"""Which chat model the agent talks to: ``JIDOKA_MODEL`` parsing, model construction and identity.

``JIDOKA_MODEL`` is ``rules`` (the offline rules model, the default) or
``openai:<model>`` — any OpenAI-compatible chat-completions server: OpenAI
itself, or a local vLLM / Ollama / LM Studio at ``OPENAI_BASE_URL``. Whether a
model may be used at all is decided by the policy's ``models:`` section
(:class:`guardrails.policy.models.ModelPolicy`), checked at start-up before any turn runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import SecretStr

from agent.errors import UnexpectedModelReply
from guardrails.errors import ModelConfigError
from guardrails.policy.models import ModelSpec
from guardrails.tracing import TurnTracing

__all__ = [
    "LOCAL_SERVER_API_KEY",
    "ModelIdentity",
    "build_chat_model",
    "identify_model",
    "model_identity",
    "model_reply",
    "traced_reply",
]

LOCAL_SERVER_API_KEY = "not-needed"
"""Key sent to a local server (``OPENAI_BASE_URL`` set, no ``OPENAI_API_KEY``); such servers ignore it."""


def build_chat_model(spec: ModelSpec, *, base_url: str | None, api_key: str | None, timeout_s: float,
                     rules_factory: Callable[[], BaseChatModel]) -> BaseChatModel:
    """The chat model for ``spec``.

    ``openai``: a ``ChatOpenAI`` on ``base_url`` (``OPENAI_BASE_URL``; ``None`` is
    api.openai.com) with ``api_key`` (``OPENAI_API_KEY``; may be omitted for a
    local server), ``timeout_s`` per request and no automatic retries — a failed
    call fails fast and the agent falls back, instead of retrying into a storm.
    It can ``invoke`` and ``stream`` (usage is requested on streams too).
    ``rules``: whatever ``rules_factory()`` builds (injected so this module never
    imports the rules model).
    """
    if not isinstance(timeout_s, int | float) or isinstance(timeout_s, bool) or not 0 < timeout_s <= 3600:
        raise ModelConfigError("timeout_s", f"must be a number of seconds in (0, 3600], got {timeout_s!r}")
    if spec.provider == "rules":
        return rules_factory()
    if base_url is not None and not re.match(r"https?://[^\s/]+", base_url):
        raise ModelConfigError("OPENAI_BASE_URL", f"must be an http(s) URL like http://localhost:8000/v1, "
                                                  f"got {base_url!r}")
    key = (api_key or "").strip()
    if not key:
        if base_url is None:
            raise ModelConfigError("OPENAI_API_KEY", f"is not set; {spec.id!r} uses api.openai.com, which "
                                                     "needs a key (or set OPENAI_BASE_URL to a local server)")
        key = LOCAL_SERVER_API_KEY
    # Deferred: importing the OpenAI stack is slow and the rules model never needs it.
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=spec.name, base_url=base_url, api_key=SecretStr(key), timeout=float(timeout_s),
                      max_retries=0, stream_usage=True)


@dataclass(frozen=True)
class ModelIdentity:
    """Who answered: recorded with every model response in the audit."""

    provider: str
    """``openai``, ``rules``, or the model's LangChain type for other models (tests)."""
    model: str
    """The configured model name."""
    version: str
    """What the server says it ran (the reply's model name, e.g. a dated snapshot), the rules
    model's ``version``, or ``unknown``."""
    system_fingerprint: str | None = None
    """The server's configuration fingerprint for the reply, when it sends one."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view for audit payloads."""
        return {"provider": self.provider, "model": self.model, "version": self.version,
                "system_fingerprint": self.system_fingerprint}


def identify_model(model: BaseChatModel, reply: AIMessage | None = None) -> ModelIdentity:
    """Provider, model name and version of ``model`` — and of ``reply`` when it is one of its answers."""
    meta = reply.response_metadata if reply is not None else {}
    served = meta.get("model_name") or meta.get("model")
    fingerprint = meta.get("system_fingerprint") or None
    llm_type = _llm_type(model)
    if llm_type == "jidoka-rules":  # agent.rules.RulesChatModel
        version = getattr(model, "version", None)
        return ModelIdentity("rules", "rules", str(version) if version else "unknown")
    name = getattr(model, "model_name", None) or getattr(model, "model", None) or type(model).__name__
    provider = "openai" if llm_type == "openai-chat" else llm_type
    if served:
        version = str(served)
    else:
        declared = getattr(model, "version", None)
        version = str(declared) if declared else "unknown"
    return ModelIdentity(provider, str(name), version, str(fingerprint) if fingerprint else None)


def model_identity(model: BaseChatModel, reply: AIMessage | None = None) -> dict[str, Any]:
    """:func:`identify_model` as a dict — the shape ``AgentDeps.identity`` expects."""
    return identify_model(model, reply).as_dict()


def _llm_type(model: BaseChatModel) -> str:
    try:
        return str(model._llm_type)
    except Exception:  # a model whose type property fails still gets an identity, never a crash
        return type(model).__name__


def model_reply(model: BaseChatModel, schemas: list[dict[str, Any]], messages: Sequence[BaseMessage]) -> AIMessage:
    """``model``'s reply to ``messages`` with ``schemas`` offered; :class:`UnexpectedModelReply` if it is no
    ``AIMessage`` (a chat model may return any message type, but only an AI reply can answer or call tools)."""
    reply = model.bind_tools(schemas).invoke(list(messages))
    if not isinstance(reply, AIMessage):
        raise UnexpectedModelReply(type(model).__name__, reply)
    return reply


def traced_reply(tracing: TurnTracing, identity: Callable[[BaseChatModel, AIMessage | None], dict[str, Any]],
                 model: BaseChatModel, schemas: list[dict[str, Any]], messages: Sequence[BaseMessage], *,
                 degraded: bool) -> AIMessage:
    """:func:`model_reply` in a ``jidoka.model`` span: provider, model names, token counts, tool calls asked for."""
    if not tracing.enabled:
        return model_reply(model, schemas, messages)
    asked = identity(model, None)
    with tracing.step("jidoka.model", {"gen_ai.operation.name": "chat", "gen_ai.provider.name": asked.get("provider"),
                                       "gen_ai.request.model": asked.get("model"), "jidoka.degraded": degraded,
                                       "jidoka.tools_offered": len(schemas)}) as span:
        reply = model_reply(model, schemas, messages)
        usage = reply.usage_metadata
        span.set_many({"gen_ai.response.model": identity(model, reply).get("version"),
                       "gen_ai.usage.input_tokens": usage["input_tokens"] if usage else None,
                       "gen_ai.usage.output_tokens": usage["output_tokens"] if usage else None,
                       "jidoka.tool_calls": len(reply.tool_calls)})
        return reply
