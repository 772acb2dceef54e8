"""Collect Kubernetes manifest files (plain, Helm-rendered or kustomize output) as one scope.

Files are YAML (multi-document) or JSON, including ``kind: List`` and typed ``*List`` documents. A
YAML stream is split at its document markers before parsing, so one broken document is reported
with its file and line while the documents around it are still collected. Documents that are not
Kubernetes objects of a supported kind (Helm ``values.yaml``, CRDs, ConfigMaps) are skipped and
counted on the manifest-set asset, not reported as problems.
"""

from __future__ import annotations

import itertools
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml

from collectors.k8s import fastyaml
from collectors.k8s.normalize import SUPPORTED_KINDS, Place, expand_lists, records_from_objects
from posture.filekinds import special_file
from posture.records import AssetKind, AssetRecord, CollectorError, Problem, Record, ScopeKind, ScopeRef
from posture.secrets import SecretScanner
from posture.taxonomy import Phase

SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_CLUSTER = "manifests"
_DOCUMENT_START = re.compile(r"^---(?:[ \t]|$)", re.MULTILINE)
_HELM_SOURCE = re.compile(r"^# Source: (.+)$", re.MULTILINE)


def manifest_files(paths: Sequence[Path]) -> tuple[list[Path], list[Problem]]:
    """Every manifest file under ``paths`` (files as given, directories recursively), sorted, and a
    Problem naming each directory or entry that could not be read: a set read in part is a partial
    run, never taken for the whole set (which would resolve what the unread part holds)."""
    files: set[Path] = set()
    problems: list[Problem] = []
    for path in paths:
        if problem := special_file(path, directory_ok=True):
            raise CollectorError(f"manifests: {path}: {problem}")
        if path.is_dir():
            _walk(path, files, problems)
        elif path.is_file():
            files.add(path)
        elif os.path.lexists(path):  # a link loop or a dangling link given on the command line
            problems.append(Problem(f"manifests: {path}: cannot read (a symbolic link that leads nowhere)"))
        else:
            raise CollectorError(f"manifests: {path}: no such file or directory")
    return sorted(files), problems


def _walk(root: Path, files: set[Path], problems: list[Problem]) -> None:
    """Collect the manifest files under ``root``, following directory symlinks once each (a link
    back up the tree is not read twice, nor forever)."""
    seen: set[tuple[int, int]] = set()
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            status = directory.stat()
            if (status.st_dev, status.st_ino) in seen:
                continue
            seen.add((status.st_dev, status.st_ino))
            with os.scandir(directory) as listing:
                entries = list(listing)
        except OSError as exc:
            problems.append(_unreadable(directory, exc))
            continue
        for entry in entries:
            path = Path(entry.path)
            try:
                if entry.is_dir():
                    pending.append(path)
                elif path.suffix.lower() in SUFFIXES and (problem := special_file(path)):
                    # a FIFO, device or socket named like a manifest (or a link to one): never opened
                    problems.append(Problem(f"manifests: {path}: cannot read ({problem})"))
                elif entry.is_file():
                    if path.suffix.lower() in SUFFIXES:
                        files.add(path)
                elif entry.is_symlink():  # a link to nothing: it may have been a file or a whole tree
                    os.stat(path)
            except OSError as exc:  # a link loop (ELOOP), a dangling link, an entry gone meanwhile
                problems.append(_unreadable(path, exc))


def _unreadable(path: Path, exc: OSError) -> Problem:
    reason = exc.strerror or str(exc)
    return Problem(f"manifests: {path}: cannot read ({exc.__class__.__name__}: {reason})")


def set_paths(paths: Sequence[Path]) -> str:
    """The set's resolved paths, sorted and comma-joined: its name when none is given (and the whole
    scope name the previous release gave it)."""
    return ",".join(sorted(str(Path(p).resolve()) for p in paths))


class ManifestCollector:
    """One manifest set (the given files and directories) under one cluster name is one collection scope.

    The scope's identity is the cluster name the objects are keyed under (``--manifests-cluster``)
    with the set's name (``--manifests-name``, default the paths): the same files checked as
    ``prod-eu`` and as ``prod-us`` are two sources, each keeping its own findings.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        cluster: str = DEFAULT_CLUSTER,
        name: str | None = None,
        adopt_legacy: bool = True,
        secrets: SecretScanner | None = None,
        team_label: str = "team",
    ) -> None:
        if not paths:
            raise ValueError("a manifest set needs at least one path")
        self._paths = [Path(p).resolve() for p in paths]
        self._cluster = cluster
        self._set = name or set_paths(self._paths)
        #: Whether to adopt the scope the previous release kept under the paths alone: only when it was
        #: collected under this cluster name (the CLI knows), else the other cluster's history moves here.
        self._legacy = (set_paths(self._paths),) if adopt_legacy else ()
        self._secrets = secrets
        self._team_label = team_label
        self.skipped: Counter[str] = Counter()

    @property
    def scope(self) -> ScopeRef:
        label = self._set if self._cluster == DEFAULT_CLUSTER else f"{self._set} @ {self._cluster}"
        return ScopeRef(ScopeKind.MANIFESTS, f"{self._cluster}:{self._set}", label=label, legacy=self._legacy)

    def collect(self) -> Iterator[Record]:
        files, problems = manifest_files(self._paths)
        unreadable = len(problems)
        origins: dict[int, Place] = {}
        objects: list[Mapping[str, Any]] = []
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
            objects, self._cluster, secrets=self._secrets, origin=lambda o: origins.get(id(o)),
            team_label=self._team_label,
        )
        scope = self.scope
        yield AssetRecord(
            AssetKind.MANIFEST_SET,
            scope.name,
            scope.label,
            Phase.RUN,
            {
                "paths": [str(p) for p in self._paths],
                "name": self._set,
                "cluster": self._cluster,
                "files": len(files),
                "documents": documents,
                "objects": len(objects),
                "skipped_kinds": dict(sorted(self.skipped.items())),
                "broken_documents": len(problems) - unreadable,
                "unreadable": unreadable,
            },
            legacy_keys=scope.legacy,
        )


def _documents(file: Path) -> Iterator[tuple[Place, Any] | Problem]:
    """``(place, parsed document)`` for each document in ``file`` (the line its content starts at; the
    document's start when it had to be parsed alone), or a Problem per broken one."""
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        yield _unreadable(file, exc)
        return
    except UnicodeDecodeError as exc:
        yield Problem(f"manifests: {file}: cannot read ({exc.__class__.__name__}: {exc})")
        return
    if file.suffix.lower() == ".json":
        try:
            yield (Place(str(file), 1), orjson.loads(text))
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
    starts = [line for line, _, _ in documents]
    for index, (_, content_line, document) in enumerate(documents):
        if document is not None:
            # A document's region runs from its start (its "---" line) to the next document's start.
            begin = starts[index] if index else 1
            end = starts[index + 1] if index + 1 < len(starts) else float("inf")
            source = next((name for at, name in sources if begin <= at < end), None)
            yield (Place(str(file), content_line, source), document)


def _helm_sources(text: str) -> list[tuple[int, str]]:
    """``(line, template)`` of every Helm ``# Source:`` comment, lines counted in one pass."""
    found: list[tuple[int, str]] = []
    line, position = 1, 0
    for match in _HELM_SOURCE.finditer(text):
        line += text.count("\n", position, match.start())
        position = match.start()
        found.append((line, match.group(1).strip()))
    return found


def _documents_one_by_one(file: Path, text: str) -> Iterator[tuple[Place, Any] | Problem]:
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
                    yield (Place(str(file), line, source.group(1).strip() if source else None), document)
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
