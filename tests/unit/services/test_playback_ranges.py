"""HTTP byte ranges resolved against the audio's length (RFC 9110): what is served, what is refused."""

from __future__ import annotations

import pytest

from voicemail.domain.errors import RangeNotSatisfiable
from voicemail.domain.mailbox import ByteRange
from voicemail.services.playback import resolve_range


@pytest.mark.parametrize(("rng", "expected"), [
    (None, (0, 999, False)),
    (ByteRange(0, 99), (0, 99, True)),
    (ByteRange(500, None), (500, 999, True)),
    (ByteRange(999, 999), (999, 999, True)),
    (ByteRange(990, 5000), (990, 999, True)),  # an end past the audio is clipped
    (ByteRange(None, None, suffix=10), (990, 999, True)),
    (ByteRange(None, None, suffix=5000), (0, 999, True)),
])
def test_satisfiable_ranges(rng: ByteRange | None, expected: tuple[int, int, bool]) -> None:
    assert resolve_range(rng, 1000) == expected


@pytest.mark.parametrize("rng", [ByteRange(1000, None), ByteRange(2000, 3000), ByteRange(10, 5),
                                 ByteRange(None, None, suffix=0), ByteRange(-1, 5), ByteRange(None, 5)])
def test_unsatisfiable_ranges_are_refused(rng: ByteRange) -> None:
    with pytest.raises(RangeNotSatisfiable):
        resolve_range(rng, 1000)


def test_any_range_of_empty_audio_is_refused() -> None:
    assert resolve_range(None, 0) == (0, -1, False)
    with pytest.raises(RangeNotSatisfiable):
        resolve_range(ByteRange(0, 0), 0)
