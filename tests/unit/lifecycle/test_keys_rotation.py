"""KEK rotation on SQLite with the file keyring: new current KEK, every data key re-wrapped (audio
untouched), old KEK destroyed only when nothing references it; durable per-KEK wrap counters."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.unit.lifecycle.support import Site, open_audio, seed
from voicemail.app import Container
from voicemail.audit.store import AuditLog
from voicemail.domain.errors import InvalidInput, KeyringError
from voicemail.keys.rotation import KeyRotation
from voicemail.keys.usage import CountedKeyring, UsageCounter
from voicemail.lifecycle.tables import kek_usage
from voicemail.vault import new_data_key


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}")


def rotation(c: Container, *, grace: float = 0.0, batch: int = 3) -> KeyRotation:
    return KeyRotation(c.engine, c.keyring, AuditLog(c.engine), batch=batch, retire_grace=grace)


def blob_hashes(site: Site) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (site.root / "vault").rglob("*") if p.is_file()}


def test_rotate_rewraps_every_data_key_and_never_touches_the_audio(site: Site) -> None:
    c = site.container()
    seeded = [seed(c, age_days=i) for i in range(7)]
    old = c.keyring.current_kek_id()
    before = blob_hashes(site)
    report = rotation(c).rotate("ops", "cli@test")
    assert report.new_kek != old and c.keyring.current_kek_id() == report.new_kek
    assert (report.rewrapped, report.failed, report.left, report.resumed) == (7, 0, 0, False)
    assert blob_hashes(site) == before  # no audio re-encrypted
    for mid, audio in seeded:
        assert open_audio(c, mid) == audio
    rows, last, unfinished = rotation(c).status()
    by_id = {r.kek_id: r for r in rows}
    assert by_id[report.new_kek].current and by_id[report.new_kek].data_keys == 7
    assert by_id[old].data_keys == 0 and last is not None and not unfinished
    actions = [e.action for e in AuditLog(c.engine).events()]
    assert actions.count("key.rotate") == 1 and actions.count("key.rewrap") == 1
    c.close()


def test_an_old_kek_is_destroyed_only_when_nothing_references_it(site: Site) -> None:
    c = site.container()
    mid, audio = seed(c, age_days=1)
    old = c.keyring.current_kek_id()
    rot = rotation(c)
    rot.start("ops", "cli@test")  # new KEK current, nothing re-wrapped yet
    with pytest.raises(InvalidInput, match="1 data key"):
        rot.retire(old, "ops", "cli@test")
    assert old in c.keyring.kek_ids()
    with pytest.raises(InvalidInput, match="current"):
        rot.retire(c.keyring.current_kek_id(), "ops", "cli@test")
    rot.rotate("ops", "cli@test", resume_only=True)
    assert rot.retire(old, "ops", "cli@test") == "destroyed"
    assert old not in c.keyring.kek_ids() and open_audio(c, mid) == audio
    denied = [e for e in AuditLog(c.engine).events() if e.action == "key.destroy"]
    assert [e.outcome for e in denied] == ["denied", "denied", "ok"]
    c.close()


def test_retiring_waits_for_the_grace_period_after_a_rotation(site: Site) -> None:
    c = site.container()
    seed(c, age_days=1)
    old = c.keyring.current_kek_id()
    rot = rotation(c, grace=3600)
    rot.rotate("ops", "cli@test")
    with pytest.raises(InvalidInput, match="kek_retire_grace"):
        rot.retire(old, "ops", "cli@test")
    c.close()


def test_an_unfinished_rotation_is_resumed_not_started_again(site: Site) -> None:
    c = site.container()
    for i in range(5):
        seed(c, age_days=i)
    rot = rotation(c)
    _, new, resumed = rot.start("ops", "cli@test")
    assert not resumed and rot.remaining() == 5
    report = rot.rotate("ops", "cli@test")  # a rerun after a crash
    assert report.resumed and report.new_kek == new and report.left == 0
    assert len(c.keyring.kek_ids()) == 2
    c.close()


def test_wrap_counters_are_durable_and_refuse_past_the_limit(site: Site) -> None:
    c = site.container()
    inner = c.keyring.inner
    ring = CountedKeyring(inner, UsageCounter(c.engine, max_wraps=10), block=4)
    for _ in range(10):
        ring.wrap(new_data_key(), b"ctx")
    with pytest.raises(KeyringError, match="wrap limit"):
        ring.wrap(new_data_key(), b"ctx")
    # a new process sees the count: it survives restarts (reserved blocks only ever over-count)
    again = CountedKeyring(inner, UsageCounter(c.engine, max_wraps=10), block=4)
    with pytest.raises(KeyringError, match="voicemail keys rotate"):
        again.wrap(new_data_key(), b"ctx")
    with c.engine.connect() as conn:
        stored = conn.execute(select(kek_usage.c.wraps).where(kek_usage.c.kek_id == inner.current_kek_id())).scalar()
    assert stored == 10
    inner.rotate()  # a fresh KEK starts from zero
    assert again.wrap(new_data_key(), b"ctx").kek_id == inner.current_kek_id()
    c.close()


def test_seals_count_against_the_current_kek(site: Site) -> None:
    c = site.container()
    for i in range(3):
        seed(c, age_days=i)
    wraps = UsageCounter(c.engine, 1 << 30).wraps(c.keyring.current_kek_id())
    assert 3 <= wraps <= 3 + 256  # counted in reserved blocks: an upper bound, never less
    c.close()


def test_totp_secrets_of_web_accounts_follow_the_rotation_and_block_retirement(site: Site) -> None:
    from voicemail.web.accounts_store import AccountStore

    c = site.container()
    accounts = AccountStore(c.engine, keyring=c.keyring)
    account = accounts.add("tom", roles=["owner"])
    accounts.enable_totp(account.id)
    secret = accounts.totp_key(account.id)
    old = c.keyring.current_kek_id()
    rot = rotation(c)
    rot.start("ops", "cli@test")
    with pytest.raises(InvalidInput, match="TOTP"):
        rot.retire(old, "ops", "cli@test")
    report = rot.rotate("ops", "cli@test")
    assert report.left == 0 and accounts.totp_wrapped_by(old) == 0
    assert rot.retire(old, "ops", "cli@test") == "destroyed"
    assert accounts.totp_key(account.id) == secret
    c.close()
