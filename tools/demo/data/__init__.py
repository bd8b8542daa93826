"""Vocabulary files of the demo-plant generator (YAML data, read with importlib.resources)."""
