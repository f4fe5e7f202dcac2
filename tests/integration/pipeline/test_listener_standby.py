"""One listener per Asterisk: two real `voicemail run` processes on one site, the stand-in and PostgreSQL.

The stand-in records every AMI action of every session with its time; the assertions are made from there:
how many sessions were logged in at once, and which session was acting when.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from sqlalchemy import text

from tests.integration.pipeline.harness import VOICEMAIL, Site, wait_for
from voicemail.db.engine import make_engine

FAST = {"VOICEMAIL_LISTENER_LEASE_SECONDS": "4", "VOICEMAIL_LISTENER_RENEW_SECONDS": "1"}


def logins(site: Site) -> list[tuple[float, str]]:
    assert site.standin is not None
    return [(t, sid) for t, sid, what in site.standin.activity() if what == "login"]


def closed_at(site: Site, session: str) -> float | None:
    assert site.standin is not None
    return next((t for t, sid, what in site.standin.activity() if sid == session and what == "closed"), None)


def most_logged_in_at_once(site: Site, outside: tuple[float, float] | None = None) -> int:
    """The largest number of sessions logged in and not yet closed at one moment (moments inside
    ``outside`` are not counted)."""
    assert site.standin is not None
    open_sessions: set[str] = set()
    most = 0
    for t, sid, what in site.standin.activity():
        if what == "login":
            open_sessions.add(sid)
        elif what == "closed":
            open_sessions.discard(sid)
        if outside is None or not outside[0] <= t <= outside[1]:
            most = max(most, len(open_sessions))
    return most


def log_of(site: Site, name: str) -> str:
    return (site.root / f"{name}.log").read_text(errors="replace")


def lease_token(site: Site) -> tuple[str, int]:
    engine = make_engine(site.database_url)
    try:
        with engine.connect() as conn:
            holder, token = conn.execute(text("SELECT holder, token FROM listener_lease WHERE site = 'default'")).one()
        return str(holder), int(token)
    finally:
        engine.dispose()


def start_active_and_standby(site: Site, **env: str) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    active = site.spawn("run", "--no-web", log="active", **env)
    wait_for(lambda: len(logins(site)) == 1, 30, "the first `voicemail run` to log in to AMI")
    standby = site.spawn("run", "--no-web", log="standby", **env)
    wait_for(lambda: "stand-by for site 'default'" in log_of(site, "standby"), 30, "the second to stand by")
    return active, standby


def test_a_standby_takes_over_within_30_s_after_the_listener_is_killed_with_default_settings(site: Site) -> None:
    active, standby = start_active_and_standby(site)
    time.sleep(11)  # two of the stand-by's polls (every 5 s by default)
    assert len(logins(site)) == 1, "the stand-by logged in to AMI while the listener held the lease"
    assert log_of(site, "standby").count("stand-by for site") == 1, "stand-by is logged once, not per poll"

    os.killpg(active.pid, signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: len(logins(site)) == 2, 35, "the stand-by to log in after the listener was killed")
    took = logins(site)[1][0] - killed
    assert took < 30, f"took over after {took:.1f} s"
    assert most_logged_in_at_once(site) == 1
    assert standby.poll() is None
    assert "listening" in log_of(site, "standby")


def test_a_paused_listener_steps_down_when_resumed_and_never_acts_beside_the_new_one(site: Site) -> None:
    active, standby = start_active_and_standby(site, **FAST)
    first_holder, first_token = lease_token(site)
    old_session = logins(site)[0][1]

    os.killpg(active.pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        wait_for(lambda: len(logins(site)) == 2, 30, "the stand-by to take over from the paused listener")
        new_login, new_session = logins(site)[1]
        wait_for(lambda: lease_token(site)[1] > first_token, 10, "the new holder's fencing token")
        assert lease_token(site)[0] != first_holder
        time.sleep(2)  # the new listener works (renews, pings) while the old one is still frozen
    finally:
        os.killpg(active.pid, signal.SIGCONT)
    resumed = time.monotonic()

    assert active.wait(20) == 75, "the resumed listener did not step down"
    wait_for(lambda: closed_at(site, old_session) is not None, 10, "the old AMI session to close")
    old_closed = closed_at(site, old_session)
    assert old_closed is not None
    assert site.standin is not None
    # after the stand-by logged in, the old session sent nothing but its Logoff
    late = [what for t, sid, what in site.standin.activity() if sid == old_session and t >= new_login]
    assert set(late) <= {"logoff", "closed"}, late
    # two logged-in sessions existed only while the old process was frozen or stepping down (it cannot close
    # a socket while stopped), never while both were running
    assert most_logged_in_at_once(site, outside=(stopped, old_closed)) == 1
    assert old_closed - resumed < 10
    assert "lost" in log_of(site, "active") and "stepping down" in log_of(site, "active")
    assert standby.poll() is None and closed_at(site, new_session) is None
    assert site.standin.session_count() == 1


def test_doctor_names_the_listener_holding_the_lease(site: Site) -> None:
    site.spawn("run", "--no-web", log="active", **FAST)
    wait_for(lambda: len(logins(site)) == 1, 30, "`voicemail run` to log in to AMI")
    holder, token = lease_token(site)
    out = subprocess.run([VOICEMAIL, "doctor", "--check", "listener"], env=site.env(), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"listened to by {holder} (fencing token {token}" in out.stdout
