"""SIGKILL a worker at every step of custody, from outside: one message per step, each time a fresh worker
stops itself at the step (failpoint ``<step>=stop``, SIGSTOP), the test sees the step's effect on disk and in
the database, and kills the frozen process with SIGKILL. Then a new worker recovers the message before the
next step is tried. At the end every invariant is checked over the whole site: every message sealed exactly
once, no plaintext anywhere (the hidden ``.vmswap`` twin of the swap-to-unlink window and the vault's
temporary blobs included), notified exactly once, zero orphans after the vault GC."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.invariants import Expected, Outcome, check, mail_counts_from_outbox
from tests.integration.pipeline.harness import CALLERS, Site, make_wav, sha256, wait_for
from voicemail.domain.models import MailboxRef
from voicemail.domain.records import DISCOVERED, SEALED

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
BOX = "1001@default"
FAST = {"VOICEMAIL_STALE_AFTER": "2"}  # the sweeper re-enqueues a killed run sooner: the scenario stays short


def stopped(pid: int) -> bool:
    """True when the process is stopped (state T in /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")


def _state(site: Site, msg_id: str) -> str:
    with site.store() as store:
        record = store.find(MailboxRef.parse(BOX), msg_id)
    assert record is not None
    return record.state


def _blobs(site: Site, msg_id: str) -> list[Path]:
    with site.store() as store:
        record = store.find(MailboxRef.parse(BOX), msg_id)
    assert record is not None
    return [p for p in (site.root / "vault").rglob("*") if p.is_file() and record.id in p.name]


def _swaps(site: Site) -> list[Path]:
    return [p for p in site.spool.rglob(".msg*.vmswap") if p.is_file()]


def _notification_states(site: Site) -> list[str]:
    from sqlalchemy import select

    from voicemail.db.engine import make_engine
    from voicemail.db.models import NotificationRow

    engine = make_engine(site.database_url)
    try:
        with engine.connect() as conn:
            return [r.state for r in conn.execute(select(NotificationRow.__table__))]
    finally:
        engine.dispose()


def seen_at_seal_mid(site: Site, exp: Expected, n: int) -> None:
    """The recording is streamed into the vault, not yet verified nor committed; the spool is untouched."""
    assert _state(site, exp.msg_id) == DISCOVERED
    assert _blobs(site, exp.msg_id), "no blob in the vault yet"
    assert any(sha256(p.read_bytes()) == exp.sha256 for p in site.plaintext_left())


def seen_after_seal_commit(site: Site, exp: Expected, n: int) -> None:
    """Sealed and committed; the plaintext is still in the spool."""
    assert _state(site, exp.msg_id) == SEALED
    assert sha256(site.open_sealed(BOX, exp.msg_id)) == exp.sha256
    assert any(sha256(p.read_bytes()) == exp.sha256 for p in site.plaintext_left())


def seen_after_swap(site: Site, exp: Expected, n: int) -> None:
    """The placeholder is in, the caller's audio is out under a hidden name, not unlinked yet."""
    assert _state(site, exp.msg_id) == SEALED
    swaps = _swaps(site)
    assert [sha256(p.read_bytes()) for p in swaps] == [exp.sha256], swaps


def seen_before_strip_commit(site: Site, exp: Expected, n: int) -> None:
    """Placeholder in, plaintext unlinked, the strip not yet committed."""
    assert _state(site, exp.msg_id) == SEALED
    assert _swaps(site) == [] and site.plaintext_left() == []


def seen_after_send(site: Site, exp: Expected, n: int) -> None:
    """The e-mail is out (outbox file written), its sending not yet recorded."""
    assert len(site.emls()) == n
    assert _notification_states(site).count("sent") == n - 1


STEPS: tuple[tuple[str, str, Callable[[Site, Expected, int], None]], ...] = (
    ("seal.mid", "blob streamed, unverified", seen_at_seal_mid),
    ("seal.after_commit", "sealed, spool untouched", seen_after_seal_commit),
    ("strip.after_swap", "placeholder in, audio in a hidden .vmswap", seen_after_swap),
    ("strip.before_commit", "audio unlinked, strip uncommitted", seen_before_strip_commit),
    ("notify.after_send", "mail out, send unrecorded", seen_after_send),
)


def test_worker_killed_at_every_custody_step_seals_once_and_leaves_nothing(
        tmp_path: Path, pg_url: str, redis_url: str, report: list[Outcome]) -> None:
    site = Site(tmp_path / "site", database_url=pg_url, broker_url=redis_url)
    site.prepare()
    site.start_standin()
    assert site.standin is not None
    expected: list[Expected] = []
    recoveries: list[float] = []
    try:
        site.spawn("run", "--no-web", log="run", **FAST)
        wait_for(lambda: site.standin.session_count() >= 1, 30, "the listener to log in")  # type: ignore[union-attr]
        for n, (step, _, seen) in enumerate(STEPS, start=1):
            doomed = site.spawn("worker", "--pool", "solo", log=f"worker-doomed-{n}",
                                VOICEMAIL_FAILPOINTS=f"{step}=stop", **FAST)
            audio = make_wav(0.5, seed=300 + n)
            callerid, context = CALLERS[n % len(CALLERS)]
            msg_id = site.standin.leave_message(BOX, callerid, caller_context=context, audio=audio)
            assert msg_id is not None
            exp = Expected(BOX, msg_id, audio)
            expected.append(exp)
            wait_for(lambda: stopped(doomed.pid), 30, f"the worker to reach {step}")  # noqa: B023
            seen(site, exp, n)  # the step's effect is there: the kill lands right after it
            os.kill(doomed.pid, signal.SIGKILL)
            doomed.wait(10)
            assert doomed.returncode == -9
            killed_at = time.monotonic()
            healer = site.spawn("worker", "--pool", "solo", log=f"worker-{n}", **FAST)  # the service manager's restart
            try:
                wait_for(lambda: site.sent() >= n, 60, f"the message killed at {step} to be notified")  # noqa: B023
            except AssertionError:
                print(site.logs())
                raise
            recoveries.append(time.monotonic() - killed_at)
            os.killpg(healer.pid, signal.SIGTERM)
            healer.wait(20)
        outcome = check(site, "worker SIGKILLed at every custody step (one message per step)", expected,
                        mail_counts_from_outbox(site), recovery_seconds=max(recoveries),
                        note="steps: " + "; ".join(f"{s} ({what})" for s, what, _ in STEPS)
                        + "; recovery = slowest kill-to-notified (restart included); the outbox mailer "
                        "rewrites one file per notification (over SMTP a kill after the send may repeat it once)")
        report.append(outcome)
        assert outcome.violations == [], outcome.violations
    finally:
        for proc in site.procs:  # a frozen worker ignores SIGTERM until it is continued
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGCONT)
        site.stop_all()

