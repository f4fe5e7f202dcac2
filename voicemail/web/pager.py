"""Numbered page links for a listing: the first, the last and a few around the current page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PageLink:
    number: int | None  # None: a gap ("…")
    url: str
    current: bool = False


def page_count(total: int, size: int) -> int:
    return max(1, -(-max(0, total) // size))


def page_links(page: int, total: int, size: int, url_for: Callable[[int], str], around: int = 2) -> list[PageLink]:
    """Links to page 1, the last page and `around` pages either side of `page`, with gaps between."""
    last = page_count(total, size)
    if last <= 1:
        return []
    shown = sorted({1, last, *range(max(1, page - around), min(last, page + around) + 1)})
    links: list[PageLink] = []
    previous = 0
    for number in shown:
        if number - previous > 1:
            links.append(PageLink(None, ""))
        links.append(PageLink(number, url_for(number), number == page))
        previous = number
    return links
