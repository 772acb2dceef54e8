"""The Prometheus exposition of the estate (prometheus-client's text format 0.0.4).

One collector serves the three ways out (``posture metrics`` on standard output, ``--textfile`` for
node_exporter's textfile collector, ``--serve`` for a scrape): prometheus-client calls :meth:`collect`
at every scrape, so each one reads the store afresh, and a read that fails or overruns its time limit
is reported as ``posture_metrics_read_success 0`` rather than as a scrape error, so an alert can say
"Posture cannot read its database" instead of "the target is down".

Names carry the ``posture_`` prefix and their unit (``_seconds``; counts of findings and messages are
gauges named by what they count, as Prometheus' naming guide asks of unit-less gauges). Label values
from the estate (team, cluster, source and channel names) pass :func:`posture.textsafe.clean` here,
so every way out carries the same visible marks for control characters; prometheus-client escapes
backslashes, quotes and line breaks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from posture.errors import ReportFailure
from posture.scoring.rollup import GRADES
from posture.store.metric_readings import (
    BACKLOG_STATES,
    RUN_STATES,
    SEVERITIES,
    GroupReading,
    Readings,
    SourceReading,
)
from posture.textsafe import clean

#: Reads the store; raises :class:`ReadFailed` when it cannot (the collector reports that as a metric).
Reader = Callable[[], Readings]


class ReadFailed(ReportFailure):
    """The store could not be read for a scrape (the message is one line for the exporter's log)."""


def _gauge(name: str, documentation: str, labels: Sequence[str] = (),
           samples: Iterable[tuple[Sequence[str], float]] = ()) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    for values, value in samples:
        family.add_metric([clean(v) for v in values], value)
    return family


def findings_families(readings: Readings) -> Iterator[GaugeMetricFamily]:
    """Open and accepted findings by severity and NIST area; open by team and by cluster."""
    yield _gauge("posture_open_findings", "Open findings by severity and NIST SP 800-190 area (category).",
                 ("severity", "category"), ((key, n) for key, n in readings.open.items()))
    yield _gauge("posture_accepted_findings",
                 "Findings covered by an accepted risk (exception or VEX), by severity and NIST SP 800-190 area.",
                 ("severity", "category"), ((key, n) for key, n in readings.accepted.items()))
    yield from _group_families("team", readings.teams)
    yield from _group_families("cluster", readings.clusters)


def _group_families(dimension: str, groups: Sequence[GroupReading]) -> Iterator[GaugeMetricFamily]:
    yield _gauge(f"posture_{dimension}_open_findings",
                 f"Open findings by {dimension} and severity, from the latest score snapshot.",
                 (dimension, "severity"),
                 (((g.name, s), g.open_by_severity.get(s, 0)) for g in groups for s in SEVERITIES))
    yield _gauge(f"posture_{dimension}_score", f"Posture score 0-100 of each {dimension} (100 is best).",
                 (dimension,), (((g.name,), g.score) for g in groups))


def score_families(readings: Readings) -> Iterator[GaugeMetricFamily]:
    """The estate's posture score and grade from the latest snapshot; nothing before the first run."""
    if readings.score is None:
        return
    score = readings.score
    yield _gauge("posture_score", "Posture score of the estate, 0-100 (100 is best; docs/scoring.md).",
                 samples=[((), score.score)])
    yield _gauge("posture_grade", "Posture grade of the estate: 1 for the current grade (A-F), 0 for the others.",
                 ("grade",), (((grade,), float(grade == score.grade)) for grade, _lowest in GRADES))
    yield _gauge("posture_score_timestamp_seconds", "When the latest score snapshot was taken (Unix time).",
                 samples=[((), score.taken_at.timestamp())])


def source_families(readings: Readings) -> Iterator[GaugeMetricFamily]:
    """Per source scope: the newest run's state and duration, and the age of the newest complete run."""
    labels = ("kind", "source", "identity")

    def key(source: SourceReading) -> tuple[str, str, str]:
        return source.kind, source.name, source.identity

    sources = readings.sources
    yield _gauge("posture_source_last_run_status",
                 "State of the newest collection run of each source: 1 for its state, 0 for the others.",
                 (*labels, "status"),
                 (((*key(s), state), float(s.status == state)) for s in sources for state in RUN_STATES))
    yield _gauge("posture_source_last_run_duration_seconds", "How long the newest finished run of each source took.",
                 labels, ((key(s), s.duration_seconds) for s in sources if s.duration_seconds is not None))
    completed = [(key(s), s.last_complete) for s in sources if s.last_complete is not None]
    yield _gauge("posture_source_last_complete_run_age_seconds",
                 "Seconds since the newest complete run of each source finished, at the time of reading.",
                 labels, ((k, (readings.now - at).total_seconds()) for k, at in completed))
    # A textfile is read long after it was written: the timestamp keeps the age computable then.
    yield _gauge("posture_source_last_complete_run_timestamp_seconds",
                 "When the newest complete run of each source finished (Unix time).",
                 labels, ((k, at.timestamp()) for k, at in completed))


def outbox_families(readings: Readings) -> Iterator[GaugeMetricFamily]:
    """Undelivered notifications per channel and state, and how long the oldest one has waited."""
    channels = sorted({channel for channel, _state in readings.backlog})
    yield _gauge("posture_outbox_messages", "Undelivered outbox messages by channel and state "
                 f"({', '.join(BACKLOG_STATES)}; dead ones are given up and need an operator).",
                 ("channel", "state"),
                 (((c, s), readings.backlog.get((c, s), 0)) for c in channels for s in BACKLOG_STATES))
    yield _gauge("posture_outbox_oldest_message_age_seconds",
                 "Age of the oldest message of each channel still waiting for delivery (pending or retry).",
                 ("channel",), (((c,), (readings.now - at).total_seconds())
                                for c, at in sorted(readings.oldest_waiting.items())))


def reading_families(readings: Readings) -> Iterator[GaugeMetricFamily]:
    yield from findings_families(readings)
    yield from score_families(readings)
    yield from source_families(readings)
    yield from outbox_families(readings)


class PostureCollector(Collector):
    """Reads the store at every collection and yields the families above plus the read's own health."""

    def __init__(self, reader: Reader, on_failure: Callable[[str], None]) -> None:
        self._reader = reader
        self._on_failure = on_failure

    def collect(self) -> Iterator[GaugeMetricFamily]:
        started = time.monotonic()
        try:
            readings = self._reader()
        except ReadFailed as exc:
            self._on_failure(str(exc))
            readings = None
        yield _gauge("posture_metrics_read_success", "1 if the store was read for this exposition, 0 if it failed.",
                     samples=[((), float(readings is not None))])
        yield _gauge("posture_metrics_read_duration_seconds", "How long reading the store for this exposition took.",
                     samples=[((), time.monotonic() - started)])
        if readings is not None:
            yield from reading_families(readings)


def registry_of(collector: PostureCollector) -> CollectorRegistry:
    """A registry holding only Posture's collector (no process metrics: the textfile must not carry them)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry) -> str:
    """One collection of ``registry`` in the text exposition format."""
    return generate_latest(registry).decode("utf-8")
