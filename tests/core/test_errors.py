"""One error root (posture/errors.py): every public error class of posture/, collectors/ and tui/ derives
from ``PostureFailure`` through its layer's base, and keeps the builtin base its callers catch."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import click
import yaml

import collectors
import posture
import tui
from collectors.bounds import LimitExceeded
from collectors.docker.endpoint import EndpointError
from collectors.docker.layers import BudgetExhausted
from collectors.registry.client import RegistryError
from collectors.registry.target import TargetError
from collectors.yamlaliases import AliasBudgetExceeded
from posture.attributes.contract import MissingAttributes
from posture.cli.context import CommandError
from posture.config import ConfigError
from posture.db import DatabaseError
from posture.errors import (
    CommandFailure,
    ConfigFailure,
    NotifyFailure,
    PostureFailure,
    ReportFailure,
    SourceFailure,
    StoreFailure,
)
from posture.notify.sinkconfig import SinkConfigError
from posture.notify.sinks import SinkError
from posture.records import CollectorError
from posture.reports.prometheus import ReadFailed
from posture.secretkey import SecretKeyError
from posture.store.diff import WindowError

#: Public exceptions that are signals, not failures: they never leave the module pair that uses them.
#: (Private ``_Restart``/``_Unlistable``/``_Absent``/``_Unusual``/``_Problem`` are skipped by their names:
#: each is raised and caught inside one module to steer a loop or a fallback.)
SIGNALS = {
    # fastyaml tells collectors/k8s/manifests.py "use PyYAML's full safe loader for this text"; it is
    # caught there beside yaml.YAMLError and turns into a slower parse, never into a message.
    "collectors.k8s.fastyaml.Unusual",
}


def _error_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in (posture, collectors, tui):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if inspect.isclass(value) and issubclass(value, BaseException) \
                        and value.__module__ == module.__name__ and not name.startswith("_"):
                    found[f"{module.__name__}.{name}"] = value
    return found


def test_every_public_error_derives_from_the_root() -> None:
    classes = _error_classes()
    assert set(SIGNALS) <= set(classes), "a listed signal no longer exists: drop it from SIGNALS"
    outside = sorted(name for name, cls in classes.items()
                     if name not in SIGNALS and not issubclass(cls, PostureFailure))
    assert outside == []


def test_each_error_sits_under_its_layer() -> None:
    layers: dict[type[PostureFailure], tuple[type[BaseException], ...]] = {
        ConfigFailure: (ConfigError, SecretKeyError, SinkConfigError),
        SourceFailure: (CollectorError, LimitExceeded, BudgetExhausted, RegistryError, AliasBudgetExceeded,
                        MissingAttributes),
        StoreFailure: (DatabaseError, WindowError),
        NotifyFailure: (SinkError,),
        ReportFailure: (ReadFailed,),
        CommandFailure: (CommandError,),
    }
    for layer, members in layers.items():
        assert issubclass(layer, PostureFailure)
        for member in members:
            assert issubclass(member, layer), (member, layer)


def test_the_builtin_bases_callers_catch_are_kept() -> None:
    """Re-basing changed no ``except``: a ConfigError is still a ValueError, a scan budget an OSError…"""
    for cls in (ConfigError, SinkConfigError, WindowError, EndpointError, TargetError):
        assert issubclass(cls, ValueError), cls
    assert issubclass(BudgetExhausted, OSError)
    assert issubclass(AliasBudgetExceeded, yaml.YAMLError)
    assert issubclass(CommandError, click.ClickException)
    error = CommandError("bad input", exit_code=2)
    assert (error.message, error.exit_code, str(error)) == ("bad input", 2, "bad input")
