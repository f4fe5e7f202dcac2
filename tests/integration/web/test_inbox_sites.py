"""The inbox with several sites: a mailbox number on another Asterisk is another mailbox (its own owner,
its own messages), and the pages name the site only when more than one is configured."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import insert, select

from tests.integration.pipeline.harness import make_wav
from tests.integration.web.test_web_pages import form_sign_in
from tests.integration.web.web_harness import PASSWORD, WebSite, web_site
from voicemail.db.models import MessageRow, RecordingRow
from voicemail.domain.models import MailboxRef


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    tmp = tmp_path_factory.mktemp("sites")
    with web_site(tmp, f"sqlite:///{tmp / 'db.sqlite'}") as s:
        s.deps.accounts.add("dora", roles=("owner",), mailboxes=(MailboxRef.parse("1001@default@branch"),),
                            numbers=(), password=PASSWORD)
        yield s


def branch_copy(site: WebSite, message_id: str) -> str:
    """The same message as if left in mailbox 1001@default of the branch Asterisk (a row of site branch)."""
    engine = site.box.container.engine
    new_id = str(uuid.uuid4())
    with engine.begin() as conn:
        row = conn.execute(select(MessageRow.__table__).where(MessageRow.id == message_id)).mappings().one()
        conn.execute(insert(MessageRow.__table__).values({**row, "id": new_id, "site": "branch"}))
        for rec in conn.execute(select(RecordingRow.__table__).where(RecordingRow.message_id == message_id)).mappings():
            conn.execute(insert(RecordingRow.__table__).values({**rec, "id": None, "message_id": new_id}))
    return new_id


def ids_in(html: str) -> set[str]:
    return set(re.findall(r'data-message-id="([0-9a-f-]{36})"', html))


def test_the_same_mailbox_number_on_another_site_is_another_owner_s_mailbox(site: WebSite) -> None:
    here = site.box.leave("1001@default", make_wav(1.0, 71))
    there = branch_copy(site, here)
    alice, dora = site.client(), site.client()
    form_sign_in(alice, "alice")
    form_sign_in(dora, "dora")
    assert here in ids_in(alice.get("/").text) and there not in ids_in(alice.get("/").text)
    assert ids_in(dora.get("/").text) == {there}
    assert alice.get(f"/messages/{there}").status_code == 404 and dora.get(f"/messages/{here}").status_code == 404
    assert dora.get(f"/messages/{there}").status_code == 200
    assert dora.get("/?mailbox=1001@default").status_code == 404  # the default site's 1001 is not hers


def test_the_site_is_shown_only_when_there_are_several(site: WebSite) -> None:
    here = site.box.leave("1001@default", make_wav(1.0, 72))
    dora = site.client()
    form_sign_in(dora, "dora")
    there = branch_copy(site, here)
    assert 'data-testid="site"' not in dora.get("/").text  # one site configured: no noise
    assert 'data-testid="site"' not in dora.get(f"/messages/{there}").text
    site.rebuild(sites=("default", "branch"), default_site="default")
    try:
        dora, alice = site.client(), site.client()
        form_sign_in(dora, "dora")
        form_sign_in(alice, "alice")
        assert re.search(r'mailbox 1001@default on site <span data-testid="site">branch</span>', dora.get("/").text)
        assert '<dd data-testid="site">branch</dd>' in dora.get(f"/messages/{there}").text
        assert '<dd data-testid="site">default</dd>' in alice.get(f"/messages/{here}").text
    finally:
        site.rebuild(sites=(), default_site="default")
