"""A mailbox on an account is the account's only through the owner role: an administrator or an
account without a role that has a mailbox listed on it (left over, or set by mistake) never gets the
owner's view: no audio, no actions, and no outside caller's number."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.pipeline.harness import make_wav
from tests.integration.web.web_harness import BASE, PASSWORD, WebSite, sign_in, web_site
from voicemail.domain.models import MailboxRef

OUTSIDE = "+12025550177"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    tmp = tmp_path_factory.mktemp("roles")
    with web_site(tmp, f"sqlite:///{tmp / 'db.sqlite'}") as s:
        box = (MailboxRef("default", "1001"),)
        s.deps.accounts.add("admin-with-box", roles=("administrator",), mailboxes=box, numbers=("1001",),
                            password=PASSWORD)
        s.deps.accounts.add("roleless-with-box", roles=(), mailboxes=box, numbers=("1001",), password=PASSWORD)
        yield s


@pytest.mark.parametrize("who", ["admin-with-box", "roleless-with-box"])
def test_a_mailbox_without_the_owner_role_gives_no_owner_view(site: WebSite, who: str) -> None:
    mid = site.box.leave("1001@default", make_wav(1.0, 61), callerid=OUTSIDE, context="vm-from-trunk")
    client = site.client()
    token = sign_in(client, who)
    meta = client.get(f"/api/v1/messages/{mid}")
    if who == "admin-with-box":  # metadata as any administrator sees it: no outside caller's identity
        assert meta.status_code == 200 and meta.json()["caller_number"] is None
        assert OUTSIDE not in client.get("/?mailbox=1001@default").text
    else:
        assert meta.status_code == 404
    assert OUTSIDE not in meta.text and OUTSIDE not in client.get(f"/messages/{mid}").text
    headers = {"X-CSRF-Token": token, "Origin": BASE}
    assert client.get(f"/api/v1/messages/{mid}/audio").status_code == 404
    assert client.post(f"/api/v1/messages/{mid}/read", headers=headers).status_code == 404
    assert client.delete(f"/api/v1/messages/{mid}", headers=headers).status_code == 404
    owner = site.client()
    sign_in(owner, "alice")
    item = owner.get(f"/api/v1/messages/{mid}").json()
    assert item["caller_number"] == OUTSIDE and item["folder"] == "INBOX"  # the real owner: untouched
