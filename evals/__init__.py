"""Eval suites that score the copilot's safety."""
