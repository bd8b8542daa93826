"""The offline rules model: deterministic intent and entity rules behind a LangChain chat-model interface.

``RulesChatModel(lexicon=PlantLexicon.from_engine(engine))`` answers plant questions with the read tools
offered to it, from the intent vocabulary in ``agent/rules/data/*.yaml``. Nothing is loaded at import.
"""

from agent.rules.lexicon import PlantLexicon
from agent.rules.model import RulesChatModel

__all__ = ["PlantLexicon", "RulesChatModel"]
