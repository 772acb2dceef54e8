"""Chat text passes the output gate: a hostile workload name reaches the channel with every escape,
bidi and zero-width character made visible, so a look-alike name differs from the real one."""

from __future__ import annotations

import re

from sqlalchemy.engine import Engine

from posture.config import Channel, Settings
from posture.notify.deliver import Deliverer, DeliveryPolicy
from posture.notify.policy import Message
from posture.pipeline import collect
from posture.run_stages import RunStages
from tests.chat_receiver import Receiver
from tests.notify.notify_fakes import RULES, Cluster, Workload

PAYLOAD = "\x1b]52;c;UFdORUQ=\x07\x1b[2J\x1b]0;PWNED\x07\x9b31m\u202eevil\u2066x\u2069\u200bzw\u200d\u2060\ufeff\u00ad"
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b-\u200d\u2060\ufeff\u00ad]")


def test_a_message_is_clean_whoever_builds_it() -> None:
    message = Message("title" + PAYLOAD, "line one\nline two" + PAYLOAD)
    assert FORBIDDEN.search(message.title) is None and FORBIDDEN.search(message.body) is None
    assert message.body.startswith("line one\nline two<U+001B>")  # line breaks kept in the body
    assert Message("pay\u200bments", "").title != Message("payments", "").title


def test_a_hostile_workload_name_reaches_the_channel_made_visible(db: tuple[str, Engine], receiver: Receiver) -> None:
    _url, engine = db
    settings = Settings((Channel("ops", receiver.url),))
    cluster = Cluster([Workload("web" + PAYLOAD, privileged=True, exposed=True, team="pay" + PAYLOAD)])
    collect(engine, cluster, RULES, stages=RunStages(settings))
    Deliverer(engine, settings, DeliveryPolicy(inline_attempts=1, inline_delay=0.0, retry_delay=0.0)).flush()
    assert receiver.accepted, "the digest was delivered"
    sent = [str(b.get("title", "")) + str(b.get("message", "")) for b in receiver.accepted]
    assert all(FORBIDDEN.search(text) is None for text in sent), sent
    assert any("U+200B" in text and "PWNED" in text for text in sent), sent  # shown, not silently dropped
