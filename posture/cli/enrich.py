"""``posture enrich``: load CISA KEV and FIRST EPSS files, then re-score every open finding."""

from __future__ import annotations

import click

from collectors.enrichment import EpssRow, KevRow, parse_epss, parse_kev
from posture.cli.context import AppContext, CommandError, db_option, pass_app
from posture.cli.delivery import after_collect, notify_settings
from posture.cli.output import echo
from posture.clock import utcnow
from posture.db import write_session
from posture.records import CollectorError
from posture.settle import settle
from posture.store.enrichment import replace_epss, replace_kev


@click.command("enrich")
@db_option
@click.option("--kev", "kev_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="CISA known_exploited_vulnerabilities.json.")
@click.option("--epss", "epss_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="FIRST epss_scores-YYYY-MM-DD.csv (or .csv.gz).")
@pass_app
def enrich_command(app: AppContext, kev_path: str | None, epss_path: str | None) -> None:
    """Load exploitability data; a file replaces what was loaded before. Risks are re-scored at once,
    and findings whose risk rises by the regression threshold are announced like any regression."""
    if not kev_path and not epss_path:
        raise CommandError("nothing to load: give --kev FILE and/or --epss FILE", 2)
    try:  # every row is parsed before anything is written: a broken file changes nothing
        kev: list[KevRow] | None = list(parse_kev(kev_path)) if kev_path else None
        epss: list[EpssRow] | None = list(parse_epss(epss_path)) if epss_path else None
    except CollectorError as exc:
        raise CommandError(str(exc), 2) from None
    settings = notify_settings(app)
    engine = app.engine_for_write()
    now = utcnow()
    with write_session(engine) as session:
        loaded = []
        if kev is not None:
            loaded.append(f"KEV: {replace_kev(session, kev)} entries")
        if epss is not None:
            loaded.append(f"EPSS: {replace_epss(session, epss)} scores")
        outcome = settle(session, settings, now)
    echo(f"{'; '.join(loaded)}; re-scored {len(outcome.risks)} findings, {len(outcome.regressions)} "
               f"regressed; posture {outcome.score:g} ({outcome.grade})")
    after_collect(app)
