"""Which prompt files the stand-in's SAY commands play (say.c's English rules) and which files exist."""

from __future__ import annotations

from pathlib import Path

from voicemail.standin import say, sounds
from voicemail.standin.audio import pcm_wav

DEC_3_2026_1405_NY = 1796324700


def test_numbers_follow_say_c() -> None:
    assert say.number_files(0) == ["digits/0"]
    assert say.number_files(19) == ["digits/19"]
    assert say.number_files(42) == ["digits/40", "digits/2"]
    assert say.number_files(300) == ["digits/3", "digits/hundred"]
    assert say.number_files(2026) == ["digits/2", "digits/thousand", "digits/20", "digits/6"]
    assert say.number_files(-7) == ["digits/minus", "digits/7"]
    assert say.digit_files("1*#") == ["digits/1", "digits/star", "digits/pound"]
    assert say.alpha_files("Hi@1") == ["letters/h", "letters/i", "letters/at", "digits/1"]
    assert say.alpha_files("Ab", "u") == ["uppercase", "letters/a", "letters/b"]


def test_datetime_of_capture_q9_and_other_format_letters() -> None:
    assert say.datetime_files(DEC_3_2026_1405_NY, "", "America/New_York") == [
        "digits/day-4", "digits/mon-11", "digits/h-3", "digits/2", "digits/thousand", "digits/20", "digits/6",
        "digits/at", "digits/2", "digits/oh", "digits/5", "digits/p-m"]
    later = DEC_3_2026_1405_NY + 20 * 86400 - 14 * 3600 - 5 * 60  # Dec 23, 00:00
    assert say.datetime_files(later, "dHMk", "America/New_York") == [
        "digits/20", "digits/h-3", "digits/oh", "digits/oclock", "digits/oh"]
    assert say.datetime_files(0, "Y", "UTC") == ["digits/19", "digits/70"]


def test_files_are_found_when_played_and_measured_from_disk(tmp_path: Path) -> None:
    (tmp_path / "msg.wav").write_bytes(pcm_wav(bytes(2 * 12345)))
    found = sounds.lookup(str(tmp_path / "msg"))
    assert found is not None and found.samples == 12345
    assert sounds.lookup(str(tmp_path / "other")) is None
    root = tmp_path / "root"
    (root / "var" / "x").mkdir(parents=True)
    (root / "var" / "x" / "m.sln").write_bytes(bytes(1600))
    rooted = sounds.lookup("/var/x/m", root=root)
    assert rooted is not None and rooted.samples == 800
    assert sounds.lookup("/var/x/../x/m", root=root) is None
    youhave = sounds.lookup("vm-youhave")
    assert youhave is not None and youhave.samples == 7253
    assert sounds.lookup("no-such-prompt") is None
    assert sounds.lookup("../etc/passwd") is None
