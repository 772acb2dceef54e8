"""The notification timeline, end to end: pipeline → scoring → outbox → apprise → a loopback receiver.

Each step is one collection of a small cluster through ``posture.pipeline.collect`` with the
product's stages after reconcile, then one flush of the outbox with apprise posting to a real HTTP server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from posture.config import Channel, Settings
from posture.model import outbox_table
from posture.notify.deliver import Deliverer, DeliveryPolicy
from posture.pipeline import collect
from posture.run_stages import RunStages
from tests.chat_receiver import Receiver
from tests.notify.notify_fakes import RULES, Cluster, Workload

ROOT = Path(__file__).resolve().parents[2]
#: Fast retries so the test does not sleep: inline pauses of 10 ms, next flush due at once.
FAST = DeliveryPolicy(inline_attempts=2, inline_delay=0.01, retry_delay=0.0)
HOSTILE = "<!channel> @everyone [click](http://evil)"


def _outbox(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(outbox_table).order_by(outbox_table.c.id))]


def test_timeline(db: tuple[str, Engine], receiver: Receiver, tmp_path: Path) -> None:
    url, engine = db
    settings = Settings((Channel("ops", receiver.url),))
    stages = RunStages(settings)
    deliverer = Deliverer(engine, settings, FAST)
    cluster = Cluster([Workload("web"), Workload("batch", privileged=True, exposed=True)])

    # 1. Baseline: the first collection of a scope sends at most one summary, however much it finds.
    assert collect(engine, cluster, RULES, stages=stages).first_run
    deliverer.flush()
    assert len(receiver.accepted) == 1
    assert "baseline" in receiver.messages()[0] and "shop/Deployment/batch" in receiver.messages()[0]

    # 2. A new privileged workload: one message naming it and its rule.
    cluster.workloads.append(Workload("payments-api", privileged=True, exposed=True))
    collect(engine, cluster, RULES, stages=stages)
    deliverer.flush()
    assert len(receiver.accepted) == 2
    message = receiver.messages()[1]
    assert "shop/Deployment/payments-api" in message and "K8S-TEST-PRIV" in message
    assert "posture tui" in message
    assert "shop/Deployment/web" not in message  # nothing else changed

    # 3. A quiet re-run: nothing.
    collect(engine, cluster, RULES, stages=stages)
    assert deliverer.flush().sent == 0
    assert len(receiver.accepted) == 2

    # 4. The receiver fails with 500 while another risk appears: nothing received, nothing lost.
    receiver.answer(500, times=2)
    cluster.workloads.append(Workload("ledger", privileged=True, exposed=True))
    collect(engine, cluster, RULES, stages=stages)
    report = deliverer.flush()
    assert len(receiver.accepted) == 2 and len(receiver.bodies) == 4  # two refused attempts
    assert report.retrying and "HTTP 500" in report.retrying[0][1]
    pending = [r for r in _outbox(engine) if r["status"] == "retry"]
    assert len(pending) == 1 and pending[0]["attempts"] == 2

    # 5. Recovery: the missed risk arrives, exactly once.
    assert deliverer.flush().sent == 1
    assert deliverer.flush().sent == 0
    assert len(receiver.accepted) == 3
    assert "shop/Deployment/ledger" in receiver.messages()[2]
    assert sum("shop/Deployment/ledger" in m for m in receiver.messages()) == 1

    # 6. A hostile label arrives inert: no mention, no link, no markup.
    cluster.workloads.append(Workload("evil", privileged=True, exposed=True, team=HOSTILE))
    collect(engine, cluster, RULES, stages=stages)
    deliverer.flush()
    inert = receiver.messages()[3]
    assert "shop/Deployment/evil" in inert
    for forbidden in ("<!channel>", "@everyone", "[click]", "](", "http://", "<", ">"):
        assert forbidden not in inert
    assert "hxxp://evil" in inert  # still readable for a human

    # 7. kill -9 during delivery: the next run delivers it again, once (at least once, at most twice).
    cluster.workloads.append(Workload("vault", privileged=True, exposed=True))
    collect(engine, cluster, RULES, stages=stages)
    receiver.hang = threading.Event()
    receiver.hang.set()
    receiver.arrived.clear()
    env = {**os.environ, "POSTURE_NOTIFY": receiver.url, "POSTURE_CONFIG": str(tmp_path / "none.toml")}
    command = [sys.executable, "-m", "posture.cli.main", "notify", "--db", url]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert receiver.arrived.wait(30), "the notify process never reached the receiver"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert [r["status"] for r in _outbox(engine)][-1] == "sending"
    receiver.hang.clear()
    receiver.release.set()  # the receiver got the first copy; its client is gone
    receiver.wait_answered()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "1 interrupted delivery resumed" in done.stdout
    vault = [b for b in receiver.bodies if "shop/Deployment/vault" in b.get("message", "")]
    assert len(vault) == 2  # the copy in flight when the process died, and exactly one more
    last = _outbox(engine)[-1]
    assert last["status"] == "sent" and last["attempts"] == 2
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "0 message(s) sent" in again.stdout
    assert len([b for b in receiver.bodies if "shop/Deployment/vault" in b.get("message", "")]) == 2
    # The channel URL is a secret: it never reaches the database or the command's output.
    assert all(receiver.url not in str(r) and str(receiver.port) not in str(r["channel"]) for r in _outbox(engine))
    assert receiver.url not in done.stdout + done.stderr
