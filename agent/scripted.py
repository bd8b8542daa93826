"""A scripted chat model of our own, for tests and benchmarks.

LangChain's fake chat models lack ``bind_tools`` and drop tool calls when
streaming; this one supports both. Each call returns the next scripted step:
an :class:`AIMessage`, or a function of the messages that returns one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.base import LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field, PrivateAttr

__all__ = ["ScriptedChatModel"]


class ScriptedChatModel(BaseChatModel):
    """Returns scripted messages in order; ``cycle=True`` starts over when the script ends."""

    script: list[Any]
    """The steps: ``AIMessage`` or ``callable(messages) -> AIMessage``."""
    cycle: bool = False
    model_name: str = "scripted"
    _position: int = PrivateAttr(default=0)
    _bound_tools: list[Any] = PrivateAttr(default_factory=list)
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    """Every message list the model was called with (for assertions)."""

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """Record the offered tools and return the model itself (it does not need their schemas)."""
        self._bound_tools = list(tools)
        return self

    @property
    def bound_tool_names(self) -> list[str]:
        """Names of the tools last offered to the model."""
        names = []
        for tool in self._bound_tools:
            if isinstance(tool, dict):
                names.append(tool.get("function", tool).get("name", ""))
            else:
                names.append(getattr(tool, "name", str(tool)))
        return names

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        if self._position >= len(self.script):
            if not self.cycle:
                raise RuntimeError("the scripted model ran out of steps")
            self._position = 0
        step = self.script[self._position]
        self._position += 1
        self.calls.append(list(messages))
        message = step(messages) if callable(step) else step
        return message.model_copy(deep=True)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        message = self._next(messages)
        text = message.content if isinstance(message.content, str) else ""
        words = text.split(" ")
        for i, word in enumerate(words):
            piece = word if i == len(words) - 1 else word + " "
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        if message.tool_calls:
            yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=[
                {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i}
                for i, c in enumerate(message.tool_calls)]))
