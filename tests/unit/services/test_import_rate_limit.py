"""The import's rate limit paces messages to the asked rate (a fake clock: no timing in the test)."""

from __future__ import annotations

from voicemail.services.spool_import import RateLimit


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_ten_per_second_spaces_calls_a_tenth_of_a_second_apart() -> None:
    clock = FakeClock()
    limit = RateLimit(10, clock=clock, sleep=clock.sleep)
    for _ in range(21):
        limit.wait()
    assert abs(clock.now - 102.0) < 1e-9  # 21 calls: the first at once, then 20 intervals of 0.1 s


def test_time_spent_elsewhere_counts_toward_the_interval() -> None:
    clock = FakeClock()
    limit = RateLimit(2, clock=clock, sleep=clock.sleep)
    limit.wait()
    clock.now += 0.4  # sealing took 0.4 s
    limit.wait()
    assert [round(s, 6) for s in clock.slept] == [0.1]


def test_zero_means_no_limit() -> None:
    clock = FakeClock()
    limit = RateLimit(0, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        limit.wait()
    assert clock.slept == []
