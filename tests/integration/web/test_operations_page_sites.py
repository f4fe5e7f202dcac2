"""The operations page with several sites: a card per site (its listener lease, queues, dead letters,
pending phone moves, vault share, messages by state) and each site's totals beside the installation's;
a site needing attention is named in the summary. With one site the page is the installation's alone."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html as html_text
import re
import uuid
from collections.abc import Iterator
from typing import cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Table, insert, select

from tests.integration.pipeline.harness import EXTERNAL_NUMBER
from tests.integration.web.test_operations_page import assert_no_caller
from tests.integration.web.web_harness import BASE, WebSite, sign_in, web_site
from voicemail.db.listener_lease import LeaseStore
from voicemail.db.models import DeadLetterRow, MessageRow, PendingMoveRow, RecordingRow
from voicemail.sites import Site
from voicemail.web.app import create_app
from voicemail.web.wiring import build_web_deps

messages = cast(Table, MessageRow.__table__)
recordings = cast(Table, RecordingRow.__table__)

LISTENER_A = "pbx-a:4121:0a1b2c3d"
LISTENER_B = "pbx-b:977:4e5f6a7b"


@dataclasses.dataclass
class TwoSites:
    one: WebSite  # the same database, one site configured
    several: TestClient  # signed in as the administrator, sites default and branch configured
    branch_ids: list[str]


def branch_copy(site: WebSite, message_id: str, **values: object) -> str:
    """The message as if left on the branch Asterisk (a row of site branch, with its recordings)."""
    new_id = str(uuid.uuid4())
    with site.box.container.engine.begin() as conn:
        row = conn.execute(select(messages).where(MessageRow.id == message_id)).mappings().one()
        conn.execute(insert(messages).values({**row, "id": new_id, "site": "branch",
                                                          "msg_id": new_id[:12], **values}))
        for rec in conn.execute(select(recordings).where(RecordingRow.message_id == message_id)).mappings():
            conn.execute(insert(recordings).values({**rec, "id": None, "message_id": new_id}))
    return new_id


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoSites]:
    tmp = tmp_path_factory.mktemp("operations-sites")
    with web_site(tmp, f"sqlite:///{tmp / 'db.sqlite'}", metrics_cache_seconds=0.0,
                  quota_site_bytes=10_000_000) as s:
        default_ids = [s.leave(seed=seed)[0] for seed in range(3)]  # sealed, stripped, notification pending
        late = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
        branch_ids = [branch_copy(s, default_ids[0]),
                      # discovered 20 minutes ago and not sealed yet: the branch's custody is late
                      branch_copy(s, default_ids[1], state="discovered", discovered_at=late, sealed_at=None,
                                  stripped_at=None)]
        engine = s.box.container.engine
        with engine.begin() as conn:
            conn.execute(insert(DeadLetterRow), [{"task": "workers.tasks.strip_message", "ref_id": branch_ids[0],
                                                  "error": "E", "attempts": 5}])
            conn.execute(insert(PendingMoveRow), [{"message_id": branch_ids[0], "from_folder": "INBOX",
                                                   "to_folder": "Old", "token": "t1", "attempts": 3}])
        leases = LeaseStore(engine)
        assert leases.acquire("default", LISTENER_A, 60) is not None
        assert leases.acquire("branch", LISTENER_B, -90) is not None  # its listener stopped renewing
        settings = dataclasses.replace(s.box.container.settings, sites=(Site("branch"),))
        deps = dataclasses.replace(build_web_deps(dataclasses.replace(s.box.container, settings=settings)),
                                   presignin_limiter=s.deps.presignin_limiter)
        several = TestClient(create_app(deps), base_url=BASE, raise_server_exceptions=False)
        sign_in(several, "admin")
        yield TwoSites(s, several, branch_ids)


def card(html: str, name: str) -> str:
    start = html.index(f'data-testid="card-site-{name}"')
    return html[start:html.index("</li>", start)]


def figure(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{re.escape(testid)}">(.*?)</dd>', html, re.DOTALL)
    assert found is not None, f"{testid} not on the page"
    return html_text.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


def test_each_site_has_its_card_with_its_own_figures(sites: TwoSites) -> None:
    html = sites.several.get("/operations").text
    assert 'data-testid="ops-sites"' in html
    default, branch = card(html, "default"), card(html, "branch")
    assert 'class="ops-state ok"' in default and 'class="ops-state attention"' in branch
    assert figure(default, "site-default-listener").startswith(f"{LISTENER_A} listens (fencing token 1,")
    assert figure(branch, "site-branch-listener").startswith(f"✗ nobody listens: the lease of {LISTENER_B} lapsed")
    assert figure(default, "site-default-custody") == "0 waiting to be sealed and stripped"
    assert figure(branch, "site-branch-custody").startswith("✗ 1 waiting to be sealed and stripped; the oldest for 20")
    assert figure(default, "site-default-notify").startswith("3 waiting to be sent; the oldest for ")
    assert figure(branch, "site-branch-notify") == "0 waiting to be sent"  # notifications stay with the originals
    assert figure(default, "site-default-dead-letters") == "0 parked item(s) to look at"
    assert figure(branch, "site-branch-dead-letters") == "✗ 1 parked item(s) to look at"
    assert figure(default, "site-default-moves") == "0 waiting for Asterisk to confirm"
    assert figure(branch, "site-branch-moves") == ("✗ 1 waiting for Asterisk to confirm, 1 of them failing "
                                                   "(retried until done)")
    assert "% of the installation's 9.5 MiB quota" in figure(branch, "site-branch-vault")
    assert figure(default, "site-default-messages") == "3 stripped"
    assert figure(branch, "site-branch-messages") == "1 discovered, 1 stripped"


def test_the_summary_names_the_site_that_needs_attention(sites: TwoSites) -> None:
    html = sites.several.get("/operations").text
    summary = html[html.index('data-testid="ops-summary"'):html.index("<h2>Now</h2>")]
    assert '<a href="#card-site-branch">Site branch</a>' in summary
    assert "card-site-default" not in summary
    # the installation's cards count every site's messages
    assert 'data-testid="custody-figure">1<' in html and 'data-testid="dead-letters-figure">1<' in html


def test_the_totals_show_each_site_beside_the_installation(sites: TwoSites) -> None:
    html = sites.several.get("/operations").text
    table = html[html.index('<table data-testid="ops-totals">'):]
    table = table[:table.index("</table>")]
    heads = re.findall(r'<th scope="col">([^<]+)</th>', table)
    assert heads == ["Messages", "All sites", "default", "branch"]
    rows = {m[0]: [int(x) for x in m[1:]] for m in re.findall(
        r'<tr><th scope="row">(\w+)</th><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td></tr>', table)}
    assert rows == {"Discovered": [5, 3, 2], "Sealed": [4, 3, 1], "Stripped": [4, 3, 1], "Notified": [0, 0, 0]}
    assert "1001@" not in html
    assert_no_caller(html)
    assert EXTERNAL_NUMBER not in html


def test_with_one_site_the_page_has_no_site_part(sites: TwoSites) -> None:
    client = sites.one.client()
    sign_in(client, "admin")
    html = client.get("/operations").text
    assert 'data-testid="ops-sites"' not in html and "card-site-" not in html
    assert '<dl class="details" data-testid="ops-totals">' in html
    assert LISTENER_A not in html and LISTENER_B not in html  # no lease read with one site
    assert "Totals by site" not in html
