"""One root for every error Posture raises on purpose, and one base per layer under it.

Why: a caller that wants "anything Posture refused, not a bug" catches :class:`PostureFailure`; one
that wants "this source could not be read" catches :class:`SourceFailure`, whichever collector raised
it. Concrete errors keep the builtin base their callers already catch (``ConfigError`` is still a
``ValueError``, ``BudgetExhausted`` still an ``OSError``), so adding a layer changes no ``except``.

The word *Failure* marks these bases apart from the concrete ``…Error`` classes that derive from them,
and from ``posture.cli.context.CommandError``, the CLI's one-line exit (a ``click.ClickException``)
into which the commands translate every layer's failure. This module imports nothing, so the pure
core and the collectors can both depend on it.
"""

from __future__ import annotations


class PostureFailure(Exception):
    """Something Posture refused or could not do, reported as one line; never a programming error."""


class ConfigFailure(PostureFailure):
    """A configuration file, key file or sink declaration the operator must fix (a usage error)."""


class SourceFailure(PostureFailure):
    """A source (engine, cluster, registry, scanner report, manifest) could not be read or reached."""


class StoreFailure(PostureFailure):
    """The database could not be used, or holds no answer to the question (an unknown run)."""


class NotifyFailure(PostureFailure):
    """A notification or event could not be delivered to its channel or sink."""


class ReportFailure(PostureFailure):
    """A summary report (an export, the Prometheus exporter) could not be produced."""


class CommandFailure(PostureFailure):
    """The CLI's own refusals: bad arguments or an input the command cannot use."""
