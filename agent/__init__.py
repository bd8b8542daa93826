"""The LangGraph agent and its models."""
