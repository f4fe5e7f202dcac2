"""Who may scrape /metrics, and the bar-chart geometry of the operations page."""

from __future__ import annotations

import pytest

from voicemail.config import load_settings
from voicemail.domain.errors import ConfigError
from voicemail.observe.access import ScrapePolicy
from voicemail.observe.charts import HEIGHT, TOP, bar_chart, nice_max


def test_default_policy_lets_loopback_scrape_and_refuses_other_addresses() -> None:
    s = load_settings(environ={})
    policy = ScrapePolicy.from_settings(s.metrics_token, s.metrics_allow_from)
    assert policy.allows("127.0.0.1", None) and policy.allows("::1", None)
    assert policy.allows("::ffff:127.0.0.1", None)
    for outsider in ("10.0.0.5", "192.0.2.1", "2001:db8::1", "testclient", "", None):
        assert not policy.allows(outsider, None), outsider


def test_token_is_required_when_set_and_compared_exactly() -> None:
    policy = ScrapePolicy.from_settings("s3cret-token", ())
    assert policy.allows("203.0.113.9", "Bearer s3cret-token")
    assert policy.allows("203.0.113.9", "bearer s3cret-token")
    for wrong in (None, "", "Bearer", "Bearer s3cret", "Basic s3cret-token", "Bearer s3cret-token2"):
        assert not policy.allows("203.0.113.9", wrong), wrong


def test_token_and_address_list_both_apply() -> None:
    policy = ScrapePolicy.from_settings("t", ("10.1.0.0/16",))
    assert policy.allows("10.1.2.3", "Bearer t")
    assert not policy.allows("10.1.2.3", None)
    assert not policy.allows("10.2.0.1", "Bearer t")


def test_a_request_through_a_proxy_needs_the_token_even_from_loopback() -> None:
    loopback_only = ScrapePolicy.from_settings("", ("127.0.0.1/32",))
    assert loopback_only.allows("127.0.0.1", None) and not loopback_only.allows("127.0.0.1", None, proxied=True)
    with_token = ScrapePolicy.from_settings("t", ("127.0.0.1/32",))
    assert with_token.allows("127.0.0.1", "Bearer t", proxied=True)
    assert not with_token.allows("127.0.0.1", None, proxied=True)


def test_neither_token_nor_addresses_turns_metrics_off() -> None:
    policy = ScrapePolicy.from_settings("", ())
    assert not policy.allows("127.0.0.1", None) and not policy.allows("127.0.0.1", "Bearer ")


def test_bad_allow_from_entry_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="metrics_allow_from"):
        load_settings(environ={"VOICEMAIL_METRICS_ALLOW_FROM": "127.0.0.1/32,not-an-address"})


def test_nice_max_rounds_up_to_one_two_or_five() -> None:
    assert [nice_max(v) for v in (0, 0.5, 3, 7, 10, 11, 180, 4999)] == [1, 1, 5, 10, 10, 20, 200, 5000]


def test_bars_are_proportional_and_empty_slots_draw_nothing() -> None:
    chart = bar_chart([[10, 0, 5, None]], ["a", "b", "c", "d"], label_every=2)
    assert [b.value for b in chart.bars] == [10, 5]
    full, half = chart.bars
    assert full.y == pytest.approx(TOP) and full.height == pytest.approx(2 * half.height)
    assert full.y + full.height == pytest.approx(chart.baseline) and chart.baseline < HEIGHT
    assert [t.text for t in chart.x_ticks] == ["a", "c"] and not chart.empty
    assert bar_chart([[0, None]], ["a", "b"]).empty


def test_latency_ticks_read_as_durations_and_second_series_is_narrower() -> None:
    chart = bar_chart([[290.0], [60.0]], ["09:00"], unit="s")
    assert [t.text for t in chart.y_ticks] == ["0 s", "2.5 min", "5 min"]
    back, front = chart.bars
    assert front.series == 1 and front.width < back.width and front.height < back.height
