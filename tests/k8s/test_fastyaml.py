"""The fast YAML loader gives what ``yaml.safe_load_all`` gives (timestamps aside), faster."""

from __future__ import annotations

import pytest
import yaml

from collectors.k8s import fastyaml

SAME_AS_PYYAML = [
    "a: 1\nb: [x, 'y', \"z\"]\n",
    "ports: [80, 0x1F, 010, 1_000, 1:20, 1.5, .inf, -.Inf]\n",
    "flags: [yes, No, on, OFF, true, False, ~, null, '', 'yes']\n",
    "a: &x {b: 1}\nc: *x\n",
    "<<: {a: 1}\nb: 2\n",
    "a: !!str 1\nb: !!int '2'\n",
    "a: |\n  x\n  y\nb: >\n  z\n",
    "1: 2\n? true\n: 3\n",
    "--- 1\n--- [2]\n...\n",
    "",
    "# only a comment\n",
    "a:\n",
]


@pytest.mark.parametrize("text", SAME_AS_PYYAML)
def test_same_result_as_the_safe_loader(text: str) -> None:
    assert fastyaml.load_all(text) == list(yaml.load_all(text, Loader=yaml.SafeLoader))


@pytest.mark.parametrize("text", ["a: [1\n", "a: 1\n b: 2\n", "? [a]\n: 1\n", "a: !custom 1\n"])
def test_same_errors_as_the_safe_loader(text: str) -> None:
    with pytest.raises(yaml.YAMLError):
        list(yaml.load_all(text, Loader=yaml.SafeLoader))
    with pytest.raises(yaml.YAMLError):
        fastyaml.load_all(text)


def test_timestamps_stay_strings_as_in_api_json() -> None:
    assert fastyaml.load_all("created: 2024-01-02T03:04:05Z\n") == [{"created": "2024-01-02T03:04:05Z"}]


def test_documents_carry_their_first_line_and_their_content_line() -> None:
    text = "a: 1\n---\n# comment\nb: 2\n---\n---\nc: 3\n"
    # (where the document starts, where its content starts, the document)
    assert fastyaml.load_documents(text) == [(1, 1, {"a": 1}), (2, 4, {"b": 2}), (5, 5, None), (6, 7, {"c": 3})]
    with pytest.raises(fastyaml.Unusual):
        fastyaml.load_documents("<<: {a: 1}\n")
