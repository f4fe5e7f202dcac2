"""`voicemail retention plan --ids` with several sites: a message of another site than the default one is
listed with its mailbox as ``1001@default@branch``; one of the default site as ``1001@default``."""

from __future__ import annotations

import time
from pathlib import Path

from click.testing import CliRunner

from tests.unit.lifecycle.support import Site, seed
from voicemail.cli import main


def test_plan_ids_name_the_mailbox_of_another_site_with_its_site(tmp_path: Path) -> None:
    site = Site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}")
    c = site.container()
    now = time.time()
    try:
        here = seed(c, age_days=800, now=now)[0]
        there = seed(c, age_days=790, now=now, site="branch")[0]
        not_due = seed(c, age_days=10, now=now, site="branch")[0]
    finally:
        c.close()
    env = site.env(VOICEMAIL_SITES="branch", VOICEMAIL_SITE_BRANCH_SPOOL_DIR=str(tmp_path / "branch-spool"))

    result = CliRunner().invoke(main, ["retention", "plan", "--ids"], env=env)

    assert result.exit_code == 0, result.output
    listed = {line.split()[0]: line.split()[1] for line in result.output.splitlines() if line.startswith("    ")
              and not line.strip().startswith("next due")}
    assert listed == {here: "1001@default", there: "1001@default@branch"}
    assert not_due not in result.output
    assert "messages.new       keep 730 days: 2 due now" in result.output
