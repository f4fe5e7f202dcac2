"""A caller is internal only when the envelope's context= is EXACTLY a trusted context as Asterisk wrote it:
near misses (case, whitespace, unicode lookalikes, prefixes, suffixes, NUL, a trailing CR) are external,
from the bytes of the .txt through the parser to the rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import CAPTURES
from voicemail.directory import CsvDirectory
from voicemail.directory.classify import Verdict, decide
from voicemail.domain.errors import MalformedEnvelope
from voicemail.domain.models import CallerKind
from voicemail.spool.envelope_salvage import read_envelope

pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(), reason=f"captures not found at {CAPTURES}")
TRUSTED = "vmleave-int"
INTERNAL = frozenset({TRUSTED, "vm-internal"})
SAMPLE = (CAPTURES / "spool-2001-INBOX-msg0000.dialplan-vmleave-int.txt").read_bytes() if CAPTURES.is_dir() else b""
LOOKALIKES = {"a": "а", "e": "е", "i": "і", "o": "о", "l": "ӏ", "v": "ѵ", "m": "м", "n": "п", "t": "т",
              "-": "‐‑‒–—−﹣－", "k": "κ"}
SPACES = [" ", "\t", "\u00a0", "\u2007", "\u200b", "\ufeff", "\x0b", "\x0c"]


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> CsvDirectory:
    path: Path = tmp_path_factory.mktemp("dir") / "directory.csv"
    path.write_text("number,name,email\n1001,Alice Example (Directory),alice@example.test\n", encoding="utf-8")
    return CsvDirectory(path)


@st.composite
def near_misses(draw: st.DrawFn) -> str:
    base = draw(st.sampled_from(sorted(INTERNAL)))
    kind = draw(st.sampled_from(["case", "space", "lookalike", "prefix", "suffix", "nul", "cr", "mixed"]))
    if kind == "case":
        flips = draw(st.sets(st.sampled_from([i for i, c in enumerate(base) if c.isalpha()]), min_size=1))
        chars = list(base)
        for i in flips:
            chars[i] = chars[i].swapcase()
        variant = "".join(chars)
    elif kind == "space":
        where = draw(st.sampled_from(["lead", "trail", "both", "inside"]))
        sp = draw(st.sampled_from(SPACES))
        cut = draw(st.integers(1, len(base) - 1))
        variant = {"lead": sp + base, "trail": base + sp, "both": sp + base + sp,
                   "inside": base[:cut] + sp + base[cut:]}[where]
    elif kind == "lookalike":
        spots = [i for i, c in enumerate(base) if c in LOOKALIKES]
        i = draw(st.sampled_from(spots))
        variant = base[:i] + draw(st.sampled_from(list(LOOKALIKES[base[i]]))) + base[i + 1:]
    elif kind == "prefix":
        variant = draw(st.text(alphabet="abcxyz-_.0", min_size=1, max_size=5)) + base
    elif kind == "suffix":
        variant = base + draw(st.text(alphabet="abcxyz-_.0", min_size=1, max_size=5))
    elif kind == "nul":
        i = draw(st.integers(0, len(base)))
        variant = base[:i] + "\x00" + base[i:]
    elif kind == "cr":
        variant = base + "\r"
    else:
        variant = draw(st.sampled_from(SPACES)) + base.upper() + "\r"
    return variant


def with_context(context: str) -> bytes:
    return SAMPLE.replace(b"context=vmleave-int\n", b"context=" + context.encode("utf-8") + b"\n")


def test_the_sample_as_written_is_internal(directory: CsvDirectory) -> None:
    envelope, refused = read_envelope(SAMPLE)
    assert refused == ""
    assert decide(envelope, INTERNAL, directory)[1] is Verdict.INTERNAL


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(variant=near_misses())
def test_a_near_miss_context_in_the_spool_file_is_external(directory: CsvDirectory, variant: str) -> None:
    assert variant not in INTERNAL
    try:
        envelope, _ = read_envelope(with_context(variant))
    except MalformedEnvelope:
        return  # refused outright: never classified at all
    caller, verdict = decide(envelope, INTERNAL, directory)
    assert caller.kind is CallerKind.EXTERNAL and caller.name is None and caller.number is None, repr(variant)
    assert verdict is Verdict.UNTRUSTED_CONTEXT


@pytest.mark.parametrize("line", [b" context=vmleave-int\n", b"context =vmleave-int\n", b"context= vmleave-int\n",
                                  b"context=vmleave-int \n", b"context=vmleave-int\r\n", b"\tcontext=vmleave-int\n"])
def test_whitespace_around_the_context_key_or_value_is_not_trusted(directory: CsvDirectory, line: bytes) -> None:
    envelope, _ = read_envelope(SAMPLE.replace(b"context=vmleave-int\n", line))
    assert decide(envelope, INTERNAL, directory)[1] is Verdict.UNTRUSTED_CONTEXT
