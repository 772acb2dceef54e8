"""Collect Kubernetes manifest files (plain, Helm-rendered or kustomize output) as one scope.

Files are YAML (multi-document) or JSON, including ``kind: List`` and typed ``*List`` documents. A
YAML stream is split at its document markers before parsing, so one broken document is reported
with its file and line while the documents around it are still collected. Documents that are not
Kubernetes objects of a supported kind (Helm ``values.yaml``, CRDs, ConfigMaps) are skipped and
counted on the manifest-set asset, not reported as problems.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml

from collectors.k8s import fastyaml
from collectors.k8s.normalize import SUPPORTED_KINDS, expand_lists, records_from_objects
from posture.records import AssetKind, AssetRecord, CollectorError, Problem, Record, ScopeKind, ScopeRef
from posture.secrets import SecretScanner
from posture.taxonomy import Phase

SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_CLUSTER = "manifests"
_DOCUMENT_START = re.compile(r"^---(?:[ \t]|$)", re.MULTILINE)
_HELM_SOURCE = re.compile(r"^# Source: (.+)$", re.MULTILINE)


def manifest_files(paths: Sequence[Path]) -> list[Path]:
    """Every manifest file under ``paths`` (files as given, directories recursively), sorted."""
    files: set[Path] = set()
    for path in paths:
        if path.is_dir():
            files.update(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
        elif path.is_file():
            files.add(path)
        else:
            raise CollectorError(f"manifests: {path}: no such file or directory")
    return sorted(files)


class ManifestCollector:
    """One manifest set (the given files and directories) is one collection scope."""

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        cluster: str = DEFAULT_CLUSTER,
        secrets: SecretScanner | None = None,
        team_key: str = "team",
    ) -> None:
        if not paths:
            raise ValueError("a manifest set needs at least one path")
        self._paths = [Path(p).resolve() for p in paths]
        self._cluster = cluster
        self._secrets = secrets
        self._team_key = team_key
        self.skipped: Counter[str] = Counter()

    @property
    def scope(self) -> ScopeRef:
        return ScopeRef(ScopeKind.MANIFESTS, ",".join(sorted(str(p) for p in self._paths)))

    def collect(self) -> Iterator[Record]:
        files = manifest_files(self._paths)
        origins: dict[int, str] = {}
        objects: list[Mapping[str, Any]] = []
        problems: list[Problem] = []
        documents = 0
        self.skipped.clear()
        for file in files:
            for item in _documents(file):
                if isinstance(item, Problem):
                    problems.append(item)
                    continue
                documents += 1
                where, document = item
                for obj in _objects(document):
                    kind = obj.get("kind")
                    if kind in SUPPORTED_KINDS:
                        origins[id(obj)] = where
                        objects.append(obj)
                    else:
                        self.skipped[str(kind) if isinstance(kind, str) and kind else "(no kind)"] += 1
        yield from problems
        yield from records_from_objects(
            objects, self._cluster, secrets=self._secrets, origin=lambda o: origins.get(id(o)), team_key=self._team_key
        )
        yield AssetRecord(
            AssetKind.MANIFEST_SET,
            self.scope.name,
            self.scope.name,
            Phase.RUN,
            {
                "paths": [str(p) for p in self._paths],
                "cluster": self._cluster,
                "files": len(files),
                "documents": documents,
                "objects": len(objects),
                "skipped_kinds": dict(sorted(self.skipped.items())),
                "broken_documents": len(problems),
            },
        )


def _documents(file: Path) -> Iterator[tuple[str, Any] | Problem]:
    """``("file:line", parsed document)`` for each document in ``file``, or a Problem per broken one."""
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        yield Problem(f"manifests: {file}: cannot read ({exc.__class__.__name__}: {exc})")
        return
    if file.suffix.lower() == ".json":
        try:
            yield (f"{file}:1", orjson.loads(text))
        except orjson.JSONDecodeError as exc:
            yield Problem(f"manifests: {file}:{exc.lineno}: invalid JSON ({exc.msg})")
        return
    try:
        # The whole file in one pass: the common case, and the fastest.
        documents = fastyaml.load_documents(text)
    except (yaml.YAMLError, fastyaml.Unusual):
        yield from _documents_one_by_one(file, text)
        return
    sources = _helm_sources(text)
    starts = [line for line, _ in documents]
    for index, (line, document) in enumerate(documents):
        if document is not None:
            # A document's region runs from its start (its "---" line) to the next document's start.
            begin = starts[index] if index else 1
            end = starts[index + 1] if index + 1 < len(starts) else float("inf")
            source = next((name for at, name in sources if begin <= at < end), None)
            yield (f"{file}:{line}" + (f" ({source})" if source else ""), document)


def _helm_sources(text: str) -> list[tuple[int, str]]:
    """``(line, template)`` of every Helm ``# Source:`` comment, lines counted in one pass."""
    found: list[tuple[int, str]] = []
    line, position = 1, 0
    for match in _HELM_SOURCE.finditer(text):
        line += text.count("\n", position, match.start())
        position = match.start()
        found.append((line, match.group(1).strip()))
    return found


def _documents_one_by_one(file: Path, text: str) -> Iterator[tuple[str, Any] | Problem]:
    """Split at the document markers and parse each part alone, so one broken document spares the rest."""
    starts = [0] + [m.start() for m in _DOCUMENT_START.finditer(text) if m.start() > 0]
    starts.append(len(text))
    line = 1
    for begin, end in itertools.pairwise(starts):
        chunk = text[begin:end]
        try:
            parsed = fastyaml.load_all(chunk)
        except yaml.YAMLError as exc:
            yield Problem(f"manifests: {file}:{_yaml_error(exc, line, chunk)}")
        else:
            source = _HELM_SOURCE.search(chunk)
            for document in parsed:
                if document is not None:
                    yield (f"{file}:{line}" + (f" ({source.group(1).strip()})" if source else ""), document)
        line += chunk.count("\n")


def _yaml_error(exc: yaml.YAMLError, first_line: int, chunk: str) -> str:
    """``"<line>: invalid YAML (problem; context at line N)"`` with lines counted in the whole file.

    The parser often notices a problem only at the end of the document (an unclosed bracket); the
    line is kept inside the document, and the context (where the construct began) is named too.
    """
    last_line = first_line + max(chunk.rstrip("\n").count("\n"), 0)
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    at = min(first_line + problem_mark.line, last_line) if problem_mark is not None else first_line
    reason = str(getattr(exc, "problem", None) or str(exc).splitlines()[0])
    context = getattr(exc, "context", None)
    if context and context_mark is not None:
        reason += f"; {context} at line {first_line + context_mark.line}"
    return f"{at}: invalid YAML ({reason})"


def _objects(document: Any) -> Iterator[Mapping[str, Any]]:
    """The objects of one parsed document: a mapping, a ``List``, or (in JSON) a top-level array."""
    if isinstance(document, list):
        for item in document:
            yield from _objects(item)
    elif isinstance(document, Mapping):
        yield from expand_lists(document)
    else:
        yield {}
