"""Every API endpoint x {anonymous, owner, other owner, administrator, account without a role}, against
the real MailboxServices and a message sealed by the custody pipeline; denied requests change nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.integration.web.web_harness import BASE, WebSite, csrf, pg_database, sign_in, web_site

ROLES = ("anonymous", "alice", "bob", "admin", "nobody")
# (method, path template, expected status per role); {m} = a message in alice's mailbox 1001@default
MATRIX: list[tuple[str, str, dict[str, int]]] = [
    ("GET", "/api/v1/mailboxes/default/1001/messages",
     {"anonymous": 401, "alice": 200, "bob": 404, "admin": 200, "nobody": 404}),
    ("GET", "/api/v1/messages/{m}", {"anonymous": 401, "alice": 200, "bob": 404, "admin": 200, "nobody": 404}),
    ("GET", "/api/v1/messages/{m}/audio", {"anonymous": 401, "alice": 200, "bob": 404, "admin": 404, "nobody": 404}),
    ("GET", "/api/v1/messages/{m}/download",
     {"anonymous": 401, "alice": 200, "bob": 404, "admin": 404, "nobody": 404}),
    ("POST", "/api/v1/messages/{m}/read", {"anonymous": 401, "alice": 200, "bob": 404, "admin": 404, "nobody": 404}),
    ("POST", "/api/v1/messages/{m}/unread",
     {"anonymous": 401, "alice": 200, "bob": 404, "admin": 404, "nobody": 404}),
    ("POST", "/api/v1/messages/{m}/play-on-phone",
     {"anonymous": 401, "alice": 202, "bob": 404, "admin": 404, "nobody": 404}),
    ("GET", "/api/v1/calls", {"anonymous": 401, "alice": 200, "bob": 200, "admin": 200, "nobody": 200}),
    ("GET", "/api/v1/me", {"anonymous": 401, "alice": 200, "bob": 200, "admin": 200, "nobody": 200}),
    ("GET", "/api/v1/me/settings", {"anonymous": 401, "alice": 200, "bob": 200, "admin": 200, "nobody": 200}),
    ("PUT", "/api/v1/me/settings", {"anonymous": 401, "alice": 200, "bob": 200, "admin": 200, "nobody": 200}),
    ("GET", "/status", {"anonymous": 401, "alice": 404, "bob": 404, "admin": 200, "nobody": 404}),
    ("GET", "/healthz", {"anonymous": 200, "alice": 200, "bob": 200, "admin": 200, "nobody": 200}),
    ("DELETE", "/api/v1/messages/{m}", {"anonymous": 401, "alice": 204, "bob": 404, "admin": 404, "nobody": 404}),
]
# The audit action of each refused request (per path template); every refusal must leave one.
REFUSAL_ACTIONS = {
    "/api/v1/mailboxes/default/1001/messages": "mailbox.list",
    "/api/v1/messages/{m}": "message.view",
    "/api/v1/messages/{m}/audio": "audio.play",
    "/api/v1/messages/{m}/download": "audio.download",
    "/api/v1/messages/{m}/read": "message.mark",
    "/api/v1/messages/{m}/unread": "message.mark",
    "/api/v1/messages/{m}/play-on-phone": "audio.play_phone",
    "/status": "status.view",
}
SETTINGS = {"notify_address": "me@example.test", "timezone": "America/New_York", "language": "en-US"}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    tmp = tmp_path_factory.mktemp(f"matrix-{request.param}")
    env: dict[str, object] = {"phone_device_template": "PJSIP/{mailbox}", "phone_ring_timeout": 5.0}
    if request.param == "postgresql":
        with pg_database() as url, web_site(tmp, url, **env) as s:
            yield s
    else:
        with web_site(tmp, f"sqlite:///{tmp / 'db.sqlite'}", **env) as s:
            yield s


def client_for(site: WebSite, role: str) -> tuple[TestClient, str]:
    client = site.client()
    token = csrf(client) if role == "anonymous" else sign_in(client, role)
    return client, token


def call(client: TestClient, token: str, method: str, path: str) -> int:
    headers = {"X-CSRF-Token": token, "Origin": BASE}
    if method == "PUT":
        status: int = client.put(path, json=SETTINGS, headers=headers).status_code
    else:
        status = client.request(method, path, headers=headers).status_code
    return status


@pytest.mark.parametrize("role", ["anonymous", "bob", "admin", "nobody"])
def test_denied_roles_get_expected_status_and_change_nothing(site: WebSite, role: str) -> None:
    mid, audio = site.leave(seed=hash(role) % 1000)
    client, token = client_for(site, role)
    before = site.deps.audit.head().seq
    got = {path: call(client, token, method, path.format(m=mid)) for method, path, _ in MATRIX}
    want = {path: expected[role] for _, path, expected in MATRIX}
    assert got == want
    # nothing changed: alice still sees the message, new, with the same audio; no AMI action was run for it
    owner, _ = client_for(site, "alice")
    item = owner.get(f"/api/v1/messages/{mid}").json()
    assert item["folder"] == "INBOX"
    assert owner.get(f"/api/v1/messages/{mid}/audio").content == audio
    mine = [e for e in site.deps.audit.events(actor=role) if e.seq > before]
    assert all(e.outcome != "ok" for e in mine if e.message_id == mid), mine
    if role == "anonymous":  # 401: nobody to name; sign-in attempts are audited by the sign-in code
        return
    # every refusal left its own event: who, what (action and message), from where, outcome denied
    refused = [(e.action, e.message_id) for e in mine if e.outcome == "denied" and e.source == "testclient"]
    for method, path, expected in MATRIX:
        if expected[role] != 404:
            continue
        action = "message.delete" if method == "DELETE" else REFUSAL_ACTIONS[path]
        target = mid if "{m}" in path else None
        assert (action, target) in refused, (method, path, refused)


def test_owner_may_do_everything_with_own_message(site: WebSite) -> None:
    mid, _audio = site.leave(seed=77)
    client, token = client_for(site, "alice")
    got = {path: call(client, token, method, path.format(m=mid)) for method, path, _ in MATRIX}
    assert got == {path: expected["alice"] for _, path, expected in MATRIX}
    assert client.get(f"/api/v1/messages/{mid}").status_code == 404  # deleted last
    assert client.get("/api/v1/me/settings").json() == SETTINGS


def test_administrator_sees_metadata_of_any_mailbox_but_not_audio(site: WebSite) -> None:
    mid, _ = site.leave("1002@default", seed=5)
    client, _ = client_for(site, "admin")
    listed = client.get("/api/v1/mailboxes/default/1002/messages").json()
    assert mid in [i["id"] for i in listed["items"]]
    r = client.get(f"/api/v1/messages/{mid}/audio")
    assert r.status_code == 404 and not r.content.startswith(b"RIFF")
    status = client.get("/status").json()
    assert set(status["checks"]) == {"ami", "broker", "database", "vault"}
    assert status["checks"]["database"]["ok"] is True
