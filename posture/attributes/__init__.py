"""Typed attribute records: what a collector writes on an asset and the rules, scoring and TUI read.

``AssetRecord.attributes`` is a ``Mapping[str, Any]`` so the store can keep any source's summary as
JSON; a module here names one source's keys and their types, so the writer and every reader are
checked by mypy against the same declaration and a renamed key is a type error, not a check that
silently passes. Pure: standard library only, so collectors and rules may both import it.
"""
