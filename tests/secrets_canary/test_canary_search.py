"""The canary test's own instruments: distinct canaries, a leak search that finds a partial or
wrapped copy and ignores a preview, and a detection check on both sides of each of its conditions."""

from __future__ import annotations

import itertools
import json

import pytest

from tests.secrets_canary import canaries as c


def test_every_canary_has_its_own_fragments_and_holds_its_cores() -> None:
    for canary in c.ALL_CANARIES:
        # The first core is planted as such; a docker auth's second is its password, planted in base64.
        assert canary.cores[0] in canary.value, canary.place
        assert all(len(f) == c.WINDOW for f in canary.fragments()), canary.place
    for one, other in itertools.combinations(c.ALL_CANARIES, 2):
        assert not set(one.fragments()) & set(other.fragments()), (one.place, other.place)
    assert len({canary.witness for canary in c.ALL_CANARIES}) == len(c.ALL_CANARIES)


@pytest.mark.parametrize(
    "output",
    [
        c.ENV_PASSWORD.value,
        json.dumps({"history": f"RUN x {c.BUILD_ARG_KEY.value}"}),  # a PEM body line inside JSON
        c.BUILD_ARG_KEY.cores[1][20:32],  # 12 characters of one body line, nothing else
        c.HISTORY_AUTH.cores[0],  # the base64 of user:password without the JSON around it
        "…" + c.PROBE_HOST.cores[0][5:17] + "…",  # a truncated screen cell
    ],
)
def test_a_leak_is_found_whole_partial_or_wrapped(output: str) -> None:
    assert c.leaks({"out": output.encode()}) != {}


def test_a_preview_and_the_witnesses_are_no_leak() -> None:
    previews = " ".join(f"{k.witness}<secret {k.value[:2]}… (sha256:0123456789ab)>" for k in c.ALL_CANARIES)
    assert c.leaks({"out": previews.encode()}) == {}
    assert c.leaks({"out": c.BUILD_ARG_KEY.cores[1][:11].encode()}) == {}  # 11 characters: below the window


@pytest.mark.parametrize(
    ("canary", "tree", "found"),
    [
        (c.LABEL_TOKEN, {"labels": {"canary.api-token": "<secret gh… (sha256:0123456789ab)>"}}, True),
        (c.LABEL_TOKEN, {"labels": {"canary.api-token": "ghp_raw"}}, False),
        (c.LABEL_TOKEN, {"labels": {"other": "<secret gh… (sha256:0123456789ab)>"}}, False),
        (c.ENV_PASSWORD, {"evidence": {"location": "env", "key": "CANARY_DB_PASSWORD", "detector": "key-name"}}, True),
        (c.ENV_PASSWORD, {"evidence": {"location": "env", "key": "CANARY_DB_PASSWORD"}}, False),
        (c.ENV_PASSWORD, {"evidence": {"key": "DB_PASSWORD", "detector": "key-name"}}, False),
        (c.SECRET_MATCH, {"evidence": {"secret_rule": "github-pat", "target": "/app/.env"}}, True),
        (c.SECRET_MATCH, {"evidence": {"secret_rule": "github-pat", "target": "/app/other"}}, False),
        (c.SECRET_MATCH, {"evidence": {"target": "/app/.env"}}, False),
        (c.VULN_TITLE, ["libcanary: token <secret gh… (sha256:0123456789ab)> leaked"], True),
        (c.VULN_TITLE, ["libcanary: token ghp_raw leaked"], False),
        (c.VULN_TITLE, ["libcanary: <secret gh… (sha256:0123456789ab)>"], False),
    ],
)
def test_detection_needs_the_preview_or_evidence_where_the_canary_was(
    canary: c.Canary, tree: object, found: bool
) -> None:
    assert c.detected(canary, list(c.walk(tree))) is found
