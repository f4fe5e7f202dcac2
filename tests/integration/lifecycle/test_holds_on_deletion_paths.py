"""Legal holds as the retention run and the vault quota see them (not only the Holds helpers): a time-range
hold of one mailbox or of all, its bounds (start inclusive, end exclusive), and a released hold that no
longer protects. SQLite; the same paths run on PostgreSQL in test_retention_time_travel / test_quota."""

from __future__ import annotations

from pathlib import Path

from tests.integration.lifecycle.test_quota import leave_message, seal_new
from tests.unit.lifecycle.support import DAY, IVY, NOW, Site, open_audio, open_case, seed, states
from voicemail.domain.models import MailboxRef
from voicemail.lifecycle.wiring import Lifecycle


def test_retention_keeps_what_a_range_hold_covers_and_destroys_what_a_released_hold_covered(tmp_path: Path) -> None:
    site = Site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}")
    c = site.container()
    m = {
        "in_range": seed(c, age_days=900),  # 1001, inside [1000 d, 800 d) ago
        "at_start": seed(c, age_days=1000),  # exactly at the start: inclusive
        "at_end": seed(c, age_days=800),  # exactly at the end: exclusive, so not held
        "before_start": seed(c, age_days=1001),  # before the range began: not held
        "other_box": seed(c, age_days=900, mailbox="1002"),  # the range is of 1001 only
        "all_boxes": seed(c, age_days=1200, mailbox="1002"),  # held by a range over every mailbox
        "released": seed(c, age_days=850, mailbox="1002"),  # its hold is released before the run
    }
    inv = open_case(c, "CI-7")
    inv.holds.place(IVY, "CI-7", "range", mailbox=MailboxRef("default", "1001"),
                    start_at=int(NOW - 1000 * DAY), end_at=int(NOW - 800 * DAY))
    inv.holds.place(IVY, "CI-7", "range", end_at=int(NOW - 1100 * DAY))
    released = inv.holds.place(IVY, "CI-7", "message", message_ids=[m["released"][0]])
    inv.holds.release(IVY, released[0], "case closed")

    report = Lifecycle(c, now=lambda: NOW, db_clock=lambda: NOW).runner("retention", "test").run()

    s = states(c)
    held = ("in_range", "at_start", "all_boxes")
    gone = ("at_end", "before_start", "other_box", "released")
    assert {k: s[v[0]] for k, v in m.items()} == {**{k: "stripped" for k in held}, **{k: "destroyed" for k in gone}}
    assert (report.held, report.failed) == (3, 0)
    for k in held:
        assert open_audio(c, m[k][0]) == m[k][1]
    c.close()


def test_quota_passes_over_messages_in_a_held_range(tmp_path: Path, captures: Path) -> None:
    new_size = (captures / "msg0000.wav").stat().st_size
    site = Site(tmp_path / "site", f"sqlite:///{tmp_path / 'vm.db'}", quota_site_bytes=3 * 2004 + new_size - 1)
    found: list[str] = []
    c = site.container(on_new=found.append)
    old = [seed(c, age_days=d) for d in (40, 30, 20)]  # oldest first
    open_case(c, "CI-7").holds.place(IVY, "CI-7", "range", start_at=int(NOW - 45 * DAY), end_at=int(NOW - 25 * DAY))
    leave_message(site, captures)
    new_id = seal_new(c, found)
    s = states(c)
    # the two oldest are in the held range; the third oldest goes
    assert [s[mid] for mid, _ in old] == ["stripped", "stripped", "destroyed"] and s[new_id] == "sealed"
    assert [open_audio(c, mid) for mid, _ in old[:2]] == [audio for _, audio in old[:2]]
    c.close()
