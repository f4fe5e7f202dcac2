"""The inbox with several sites: a mailbox number on another Asterisk is another mailbox (its own owner,
its own messages), the pages name the site only when more than one is configured, and the REST API
always names it and lists another site's mailbox with ``site=`` (its answer to a forward names the site
only when there are several)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import httpx
import pytest
from sqlalchemy import Table, insert, select

from tests.integration.pipeline.harness import make_wav
from tests.integration.web.test_web_pages import form_sign_in
from tests.integration.web.web_harness import BASE, PASSWORD, WebSite, sign_in, web_site
from voicemail.db.models import MessageRow, RecordingRow
from voicemail.domain.models import MailboxRef

messages = cast(Table, MessageRow.__table__)
recordings = cast(Table, RecordingRow.__table__)


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
        row = conn.execute(select(messages).where(MessageRow.id == message_id)).mappings().one()
        conn.execute(insert(messages).values({**row, "id": new_id, "site": "branch"}))
        for rec in conn.execute(select(recordings).where(RecordingRow.message_id == message_id)).mappings():
            conn.execute(insert(recordings).values({**rec, "id": None, "message_id": new_id}))
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


@contextmanager
def two_sites(site: WebSite) -> Iterator[None]:
    site.rebuild(sites=("default", "branch"), default_site="default")
    try:
        yield
    finally:
        site.rebuild(sites=(), default_site="default")


def api_ids(answer: httpx.Response) -> set[str]:
    assert answer.status_code == 200, answer.text
    return {item["id"] for item in answer.json()["items"]}


def test_the_api_names_each_message_s_mailbox_with_its_site_even_with_one_site(site: WebSite) -> None:
    here = site.box.leave("1001@default", make_wav(1.0, 73))
    alice = site.client()
    sign_in(alice, "alice")
    assert alice.get("/api/v1/session").json()["sites"] == ["default"]
    listed = alice.get("/api/v1/mailboxes/default/1001/messages")
    [item] = [i for i in listed.json()["items"] if i["id"] == here]
    assert item["mailbox"] == {"context": "default", "mailbox": "1001", "site": "default", "qualified": "1001@default"}
    assert alice.get(f"/api/v1/messages/{here}").json()["mailbox"]["site"] == "default"
    # one site: naming it, or not, is the same mailbox (clients written before sites keep working)
    assert api_ids(alice.get("/api/v1/mailboxes/default/1001/messages?site=default")) == api_ids(listed)


def test_a_mailbox_of_another_site_is_listed_with_the_site_parameter(site: WebSite) -> None:
    here = site.box.leave("1001@default", make_wav(1.0, 74))
    there = branch_copy(site, here)
    with two_sites(site):
        dora, alice, admin = site.client(), site.client(), site.client()
        sign_in(dora, "dora")
        sign_in(alice, "alice")
        sign_in(admin, "admin")
        assert dora.get("/api/v1/session").json()["sites"] == ["default", "branch"]
        branch = "/api/v1/mailboxes/default/1001/messages?site=branch"
        listed = dora.get(branch)
        assert there in api_ids(listed) and here not in api_ids(listed)
        [item] = [i for i in listed.json()["items"] if i["id"] == there]
        assert item["mailbox"] == {"context": "default", "mailbox": "1001", "site": "branch",
                                   "qualified": "1001@default@branch"}
        assert dora.get(f"/api/v1/messages/{there}").json()["mailbox"]["qualified"] == "1001@default@branch"
        assert dora.get("/api/v1/mailboxes/default/1001/messages").status_code == 404  # the default site's 1001
        assert here in api_ids(alice.get("/api/v1/mailboxes/default/1001/messages?site=default"))
        assert alice.get(branch).status_code == 404
        assert there in api_ids(admin.get(branch)) and here not in api_ids(admin.get(branch))
    denied = [e for e in site.deps.audit.events(actor="alice") if e.action == "mailbox.list" and e.outcome == "denied"]
    assert json.loads(denied[-1].details)["mailbox"] == "1001@default@branch"  # the refusal names the site


def test_the_api_s_answer_to_a_forward_names_the_site_only_with_several_sites(site: WebSite) -> None:
    def forward(seed: int) -> httpx.Response:
        message = site.box.leave("1001@default", make_wav(1.0, seed))
        alice = site.client()
        token = sign_in(alice, "alice")
        answer: httpx.Response = alice.post(f"/api/v1/messages/{message}/forward", json={"to": "1002"},
                                            headers={"X-CSRF-Token": token, "Origin": BASE})
        return answer

    one = forward(75)
    assert one.status_code == 201, one.text
    assert one.content == b'{"to":"1002@default","forwarded":true}'  # one site: as before sites existed
    with two_sites(site):
        several = forward(76)
        assert several.status_code == 201, several.text
        assert several.json() == {"to": "1002@default", "forwarded": True, "site": "default"}


def test_a_site_that_is_not_configured_is_a_400_that_names_the_configured_ones(site: WebSite) -> None:
    dora = site.client()
    sign_in(dora, "dora")
    one = dora.get("/api/v1/mailboxes/default/1001/messages?site=branch")
    assert one.status_code == 400 and one.json() == {
        "detail": "unknown site 'branch'; the configured sites are default"}
    with two_sites(site):
        dora = site.client()
        sign_in(dora, "dora")
        unknown = dora.get("/api/v1/mailboxes/default/1001/messages?site=nowhere")
        assert unknown.status_code == 400
        assert unknown.json()["detail"] == "unknown site 'nowhere'; the configured sites are default, branch"
        assert dora.get("/api/v1/mailboxes/default/1001/messages?site=../branch").status_code == 400
    signed_out = site.client().get("/api/v1/mailboxes/default/1001/messages?site=nowhere")
    assert signed_out.status_code == 401  # sign-in comes first: nothing about sites without it


def test_the_inbox_page_refuses_a_mailbox_of_a_site_that_is_not_configured(site: WebSite) -> None:
    with two_sites(site):
        admin, dora = site.client(), site.client()
        form_sign_in(admin, "admin")
        form_sign_in(dora, "dora")
        for client in (admin, dora):
            page = client.get("/?mailbox=1001@default@nowhere")
            assert page.status_code == 400
            assert "unknown site &#39;nowhere&#39;; the configured sites are default, branch" in page.text
        assert dora.get("/?mailbox=1001@default@branch").status_code == 200  # her own mailbox, site named
        assert admin.get("/?mailbox=1001@default@default").status_code == 200  # the default site named


def test_the_openapi_document_describes_the_site_of_a_mailbox_and_the_site_parameter(site: WebSite) -> None:
    doc = site.client().get("/openapi.json").json()
    listing = doc["paths"]["/api/v1/mailboxes/{context}/{mailbox}/messages"]["get"]
    [param] = [p for p in listing["parameters"] if p["name"] == "site"]
    assert param["in"] == "query" and not param.get("required") and "default site" in param["description"]
    mailbox = doc["components"]["schemas"]["MailboxOut"]
    assert {"site", "qualified"} <= set(mailbox["required"])
    assert "sites" in doc["components"]["schemas"]["SessionOut"]["properties"]
    forwarded = doc["components"]["schemas"]["ForwardOut"]
    assert "site" in forwarded["properties"] and "site" not in forwarded.get("required", [])
