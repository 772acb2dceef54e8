"""The one gate between what a source states and what Posture stores: no clear-text secret passes.

Collectors redact where they already look (env values, image history, labels) and raise findings
from what they see; but a source puts free text in many more places (a Kubernetes label, a probe's
``host``, a scanner's vulnerability description), and a patch per field is a field forgotten. So the
pipeline passes every record through :class:`Scrubber` after the rules have judged the raw records
and before anything is written: asset names and attributes, finding titles, discriminators and
evidence, run problems.

What is scrubbed and how:

* every string, at any depth, with :meth:`posture.secrets.SecretScanner.redact_text` (known token
  formats, ``KEY=value``/``--flag value``/``"key": "value"`` pairs with a secret key name, URL
  credentials, whole private keys): identifiers (digests, UIDs, image references, asset keys, the
  *names* in ``secretName``/``secretKeyRef``) match none of these, so they are left as they are;
* the entries of a mapping that holds a source's own name → value pairs (:data:`USER_DATA`:
  labels, annotations, ConfigMap-style data), also by key name
  (:meth:`~posture.secrets.SecretScanner.scan_named_pair`): a key that says secret
  (``db-password``) replaces the whole value by its marker. High entropy alone is not used here: a
  random-looking label value is usually a hash or an ID, and the gate must be decidable from anchors.
  Elsewhere a key is Posture's own structure (``secret`` naming a Secret in an env reference,
  ``hash`` of a hit), never judged by name.

Scrubbing is deterministic (keyed by the installation's hash key) and idempotent (a marker is left
alone), so a re-read asset keeps its content hash and findings do not flap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import orjson

from posture.records import AssetRecord, ObservationRecord
from posture.rules.base import Verdict
from posture.secrets import SecretScanner, marker, may_hold_secret, secret_word_then

#: Attribute and evidence mappings whose entries are a source's own ``name → value`` pairs.
USER_DATA = frozenset({"labels", "annotations", "data", "stringData", "env"})
_USER_DATA_HINT = re.compile(b'"(?:' + b"|".join(k.encode() for k in sorted(USER_DATA)) + b')":\\{')
#: The rest of a serialised mapping key after a secret word in it: any characters but a quote, then ``":``.
_KEY_END = re.compile(rb'[^"]*":')
#: ``location`` given to what the gate finds (it keeps no hits: collectors report findings).
_LOCATION = "stored"
#: Records tested together: one serialised test clears a whole chunk, since nearly no record holds a
#: secret (13,000 Kubernetes objects: one test per chunk costs half of one per record).
_CHUNK = 256
R = TypeVar("R")


def _may_hold_pair(blob: bytes) -> bool:
    """A serialised record with a :data:`USER_DATA` mapping and a key naming a secret: one entry may be a
    secret pair (a label key ``example.com/db-password`` is ``…password":`` in the record)."""
    return _USER_DATA_HINT.search(blob) is not None and secret_word_then(blob, _KEY_END)


class Scrubber:
    """Replaces every secret in a record's free text by its redacted marker."""

    def __init__(self, scanner: SecretScanner) -> None:
        self._scanner = scanner
        # One run states the same text many times (a CVE's description in every image that has it, a
        # label on every pod): each distinct string is scanned once.
        self._done: dict[str, str] = {}

    def text(self, text: str) -> str:
        """``text`` with each secret a text detector finds replaced by its marker."""
        done = self._done.get(text)
        if done is None:
            done = self._done[text] = self._scanner.redact_text(_LOCATION, text)[0]
        return done

    def value(self, value: Any) -> Any:
        """Any JSON-shaped value, strings scrubbed at every depth; the input is never modified."""
        return value if self._clean(value) else self._walk(value)

    @staticmethod
    def _clean(value: Any) -> bool:
        """True when no string in ``value`` can hold a secret, decided without walking it.

        Most records hold none, and one test of the record serialised is many times faster than a
        walk: a serialised record holds every anchor its strings hold (it may only hold more).
        """
        try:
            blob = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:  # not JSON-shaped: walk it
            return False
        return not may_hold_secret(blob, serialized=True) and not _may_hold_pair(blob)

    def _walk(self, value: Any) -> Any:
        kind = type(value)  # exact types first: this runs for every value of every record
        if kind is str:
            return self.text(value)
        if kind is dict or isinstance(value, Mapping):
            return {
                key: self._pairs(item) if key in USER_DATA and isinstance(item, Mapping) else self._walk(item)
                for key, item in value.items()
            }
        if kind is list or kind is tuple:
            return [self._walk(item) for item in value]
        return value

    def _pairs(self, mapping: Mapping[Any, Any]) -> dict[Any, Any]:
        """A source's own ``name → value`` entries: a secret-looking pair loses its whole value."""
        out: dict[Any, Any] = {}
        for key, item in mapping.items():
            name = self.text(key) if isinstance(key, str) else key
            if isinstance(item, str) and isinstance(key, str):
                hit = self._scanner.scan_named_pair(_LOCATION, key, item)
                out[name] = marker(hit.preview) if hit is not None else self.text(item)
            else:
                out[name] = self._walk(item)
        return out

    def assets(self, assets: Sequence[AssetRecord]) -> list[AssetRecord]:
        return self._batched(assets, lambda a: (a.name, a.attributes), self.asset)

    def verdicts(self, verdicts: Sequence[Verdict]) -> list[Verdict]:
        return self._batched(
            verdicts, lambda v: (v.asset_name, v.hit.discriminator, v.hit.title, v.hit.evidence), self.verdict
        )

    def _batched(self, records: Sequence[R], parts: Callable[[R], Any], one: Callable[[R], R]) -> list[R]:
        """``records`` as they may be stored, a chunk at a time: a chunk the serialised test clears is
        kept whole (the test over-approximates: a chunk it does not clear is scrubbed record by record)."""
        out: list[R] = []
        for start in range(0, len(records), _CHUNK):
            chunk = records[start : start + _CHUNK]
            if self._clean([parts(record) for record in chunk]):
                out.extend(chunk)
            else:
                out.extend(one(record) for record in chunk)
        return out

    def asset(self, asset: AssetRecord) -> AssetRecord:
        """The asset as it may be stored; its key and aliases are identities and stay as stated."""
        if self._clean((asset.name, asset.attributes)):
            return asset
        return replace(asset, name=self.text(asset.name), attributes=self._walk(asset.attributes))

    def verdict(self, verdict: Verdict) -> Verdict:
        """A rule's verdict as it may be stored (rules judged the raw asset before)."""
        hit = verdict.hit
        if self._clean((verdict.asset_name, hit.discriminator, hit.title, hit.evidence)):
            return verdict
        scrubbed = replace(
            hit,
            discriminator=self.text(hit.discriminator),
            evidence=self._walk(hit.evidence),
            title=self.text(hit.title) if hit.title is not None else None,
        )
        return replace(verdict, asset_name=self.text(verdict.asset_name), hit=scrubbed)

    def observation(self, observation: ObservationRecord) -> ObservationRecord:
        """A finding a source stated (a scanner's CVE with its title and description) as it may be stored."""
        if self._clean((observation.discriminator, observation.title, observation.evidence)):
            return observation
        return replace(
            observation,
            discriminator=self.text(observation.discriminator),
            title=self.text(observation.title),
            evidence=self._walk(observation.evidence),
        )
