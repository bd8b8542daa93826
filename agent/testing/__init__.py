"""Test support shipped with the agent: an OpenAI-compatible stub server (:mod:`agent.testing.openai_stub`).

Nothing here is imported by the runtime; import the submodule you need.
"""
