"""The configuration file: channels are secrets, mistakes are one line naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from posture.config import Channel, ConfigError, load_settings, parse
from posture.notify.display import display_url
from posture.taxonomy import Severity

GOOD = """
team_label = "owner"
[thresholds]
new_risk = 70
scope_risk = 55.5
[[channels]]
name = "payments"
url = "slack://TOKENA/TOKENB/TOKENC/#payments"
[[channels]]
name = "mail"
url = "mailtos://user:hunter2@smtp.example.com?to=ops@example.com"
[[routes]]
channel = "payments"
events = ["new", "regressed"]
min_severity = "HIGH"
team = ["payments", "pay-*"]
"""


def test_a_full_configuration(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    settings = load_settings(path, {"POSTURE_NOTIFY": "json://127.0.0.1:9/a  json://127.0.0.1:9/b"})
    assert settings.team_label == "owner" and settings.thresholds.new_risk == 70
    assert settings.thresholds.scope_risk == 55.5
    assert [c.name for c in settings.channels] == ["payments", "mail", "env-1", "env-2"]
    (route,) = settings.routes
    assert route.min_severity is Severity.HIGH and route.scope == {"team": ("payments", "pay-*")}
    assert route.events == {"new", "regressed"}
    assert {r.channel for r in settings.effective_routes()} == {"payments", "mail", "env-1", "env-2"}


def test_urls_are_never_shown_whole() -> None:
    channel = Channel("mail", "mailtos://user:hunter2@smtp.example.com:465/path?to=ops@example.com")
    assert display_url(channel.url) == "mailtos://smtp.example.com"
    assert "hunter2" not in repr(channel) and "hunter2" not in str(channel)
    # Apprise puts these services' tokens in the host: apprise's own privacy rendering says so.
    assert display_url("slack://TOKENA/TOKENB/TOKENC") == "slack://"
    assert display_url("opsgenie://rtcanaryopsgenieapikey") == "opsgenie://"
    assert display_url("json://127.0.0.1:8080/hook") == "json://127.0.0.1"  # a plain host stays visible
    assert display_url("nosuchservice://secret/x") == "nosuchservice://"  # apprise cannot parse it: scheme only
    key = b"k" * 32
    assert channel.id(key) == channel.id(key) != Channel("x", "mailtos://other").id(key)
    assert "hunter2" not in channel.id(key) and channel.id(key) != channel.id(b"j" * 32)


@pytest.mark.parametrize(("text", "message"), [
    ("[[channels]]\nname = 'a'\n", "channel 1 needs a url"),
    ("[[channels]]\nurl = 'json://h/x'\n[[routes]]\nchannel = 'nope'\n", "channel 'nope' is not one of"),
    ("[[channels]]\nurl = 'json://h/x'\n[[routes]]\nchannel = 'channel-1'\nevents = ['new', 'boom']\n",
     "unknown event 'boom'"),
    ("[[channels]]\nurl = 'json://h/x'\n[[routes]]\nchannel = 'channel-1'\nmin_severity = 'awful'\n",
     "min_severity 'awful' is not a severity"),
    ("[thresholds]\nnew_risk = 500\n", "thresholds.new_risk: expected a number from 0 to 100"),
    ("[thresholds]\nloud = 1\n", "unknown threshold 'loud'"),
    ("colour = 'red'\n", "unknown setting 'colour'"),
    ("this is not toml", "config"),
])
def test_mistakes_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    assert message in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_file_is_an_empty_configuration(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "absent.toml", {})
    assert settings.channels == () and settings.team_label == "team"
    assert parse({}).thresholds.top == 10


def test_collectors_are_told_the_team_key_and_the_allowed_exec_plugins() -> None:
    """What ``posture collect`` hands the sources (SourceContext.settings) comes from the file."""
    settings = parse({"team_label": "owner", "kubernetes": {"allow_exec_plugins": ["aws", "kubelogin"]}})
    assert settings.source_settings() == {"team_label": "owner",
                                          "kubernetes": {"allow_exec_plugins": ["aws", "kubelogin"]}}
    with pytest.raises(ConfigError, match=r"^config: \[kubernetes\] takes only allow_exec_plugins$"):
        parse({"kubernetes": {"allow_exec_plugin": ["aws"]}})
    with pytest.raises(ConfigError, match=r"kubernetes\.allow_exec_plugins: expected a string or a list of strings"):
        parse({"kubernetes": {"allow_exec_plugins": [1]}})
    expected = r"^config: max_image_age_days: expected a whole number of days from 1 to 36500$"
    with pytest.raises(ConfigError, match=expected):
        parse({"max_image_age_days": 365.5})
