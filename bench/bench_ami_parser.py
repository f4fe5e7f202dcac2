"""AMI parser throughput: ours (voicemail.ami.parser) against panoramisk's, measured in the same run.

    python bench/bench_ami_parser.py [--captures DIR] [--repeat N] [--chunks 65536,4096,1460,64] [--json]

Input: every server->client stream of the real Asterisk captures (``*.rx.ami.txt``; for the load
captures q6/q7*, whose rx files were dropped, the rx bytes rebuilt from ``*.timeline.jsonl`` exactly as
CAPTURES.md says). The default folder is the repository's ``tests/fixtures/asterisk-captures``, which
holds the rx streams but not the large q6/q7 load captures: point ``--captures`` (or VOICEMAIL_CAPTURES)
at a full copy of the captures to include them. Each stream is fed to a fresh parser in slices of the
chunk size, the same slices for both parsers.

Panoramisk's parsing path is ``AMIProtocol.data_received`` (decode, split on CRLF CRLF, strip,
``Message.from_line`` into a case-insensitive dict); its ``handle_message`` (response futures,
event dispatch) is replaced by the per-message work of the mode below, the same work for both.

Modes:
* dispatch: for each message read ``Event`` and ``ActionID`` -- what a client's reader does with every
  message to route it (our AmiClient does exactly this; most events are then dropped by the listener).
* full: every header of every message materialised (ours: ``msg.headers``; panoramisk's message is
  already a full dict, so nothing is added to its side). Our parser keeps a bounded cache of parsed
  header lines; it is emptied before every run, so each run starts cold.

Before timing, each chunking is checked once (untimed): both parsers must yield the same messages
(Event, ActionID and the names of its non-empty headers). Figures are messages per second, best of N runs
(default 7), runs of the two parsers interleaved.
The target is ours >= 3x panoramisk.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib.metadata
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voicemail.ami.parser import AmiParser, clear_line_cache

TARGET_RATIO = 3.0
DEFAULT_CAPTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "asterisk-captures"


def load_streams(captures: Path) -> dict[str, bytes]:
    streams: dict[str, bytes] = {}
    for path in sorted(captures.glob("*.rx.ami.txt")):
        streams[path.name.removesuffix(".rx.ami.txt")] = path.read_bytes()
    for path in sorted(captures.glob("*.timeline.jsonl")):
        name = path.name.removesuffix(".timeline.jsonl")
        if name in streams:
            continue
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        streams[name] = "".join(r["raw"] for r in rows if r["dir"] == "rx").encode("utf-8")
    return streams


def slices(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def ours_runner(mode: str) -> Callable[[list[list[bytes]]], int]:
    def dispatch(streams: list[list[bytes]]) -> int:
        clear_line_cache()
        n = 0
        for chunks in streams:
            parser = AmiParser()
            for chunk in chunks:
                for msg in parser.feed(chunk):
                    msg.event  # noqa: B018 (the work measured)
                    msg.action_id  # noqa: B018
                    n += 1
        return n

    def full(streams: list[list[bytes]]) -> int:
        clear_line_cache()  # every run starts cold: no header line seen before
        n = 0
        for chunks in streams:
            parser = AmiParser()
            for chunk in chunks:
                for msg in parser.feed(chunk):
                    msg.headers  # noqa: B018
                    n += 1
        return n

    return dispatch if mode == "dispatch" else full


def panoramisk_runner(mode: str) -> Callable[[list[list[bytes]]], int]:
    from panoramisk.ami_protocol import AMIProtocol

    class Counting(AMIProtocol):  # type: ignore[misc]
        count = 0

        def handle_message(self, message: Any) -> None:
            if mode == "dispatch":
                message.get("Event")
                message.action_id  # noqa: B018
            self.count += 1

    def run(streams: list[list[bytes]]) -> int:
        n = 0
        for chunks in streams:
            proto = Counting()
            proto.connection_made(None)
            for chunk in chunks:
                proto.data_received(chunk)
            n += proto.count
        return n

    return run


def same_messages(streams: list[list[bytes]]) -> bool:
    """Untimed check that both parsers see the same messages: Event, ActionID, names of the headers
    with a value (panoramisk strips each block, so it loses a last header with an empty value, like
    the ``Extra: `` that ends every CEL event)."""
    from panoramisk.ami_protocol import AMIProtocol

    Seen = tuple[str | None, str | None, frozenset[str]]
    seen: list[Seen] = []

    class Recording(AMIProtocol):  # type: ignore[misc]
        def handle_message(self, message: Any) -> None:
            names = frozenset(k.lower() for k, v in message.items() if k != "content" and v)  # + 'content'
            seen.append((message.get("Event"), message.action_id, names))

    ours: list[Seen] = []
    for chunks in streams:
        parser, proto = AmiParser(), Recording()
        proto.connection_made(None)
        for chunk in chunks:
            ours.extend((m.event, m.action_id, frozenset(k.lower() for k, v in m.headers if v))
                        for m in parser.feed(chunk))
            proto.data_received(chunk)
    return ours == seen


def best_of(repeat: int, runs: dict[str, Callable[[], int]]) -> dict[str, tuple[float, int]]:
    best: dict[str, tuple[float, int]] = {}
    for _ in range(repeat):
        for name, run in runs.items():  # interleaved, so drift hits both alike
            gc.collect()
            start = time.perf_counter()
            count = run()
            elapsed = time.perf_counter() - start
            if name not in best or elapsed < best[name][0]:
                best[name] = (elapsed, count)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--captures", type=Path,
                        default=Path(os.environ.get("VOICEMAIL_CAPTURES", DEFAULT_CAPTURES)))
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--chunks", default="65536,4096,1460,64", help="read sizes in bytes, comma-separated")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()
    if not args.captures.is_dir():
        print(f"captures not found at {args.captures} (set VOICEMAIL_CAPTURES)", file=sys.stderr)
        return 2
    streams = load_streams(args.captures)
    total = sum(len(s) for s in streams.values())
    print(f"python {platform.python_version()} on {platform.machine()}; "
          f"panoramisk {importlib.metadata.version('panoramisk')}")
    print(f"{len(streams)} rx streams, {total:,} bytes; best of {args.repeat} runs\n")
    print(f"{'mode':<9} {'chunk':>6} {'ours msg/s':>12} {'panoramisk msg/s':>17} {'ratio':>6}  messages")
    results = []
    worst: dict[str, tuple[float, int]] = {}
    for mode in ("dispatch", "full"):
        for size in (int(s) for s in args.chunks.split(",")):
            sliced = [slices(data, size) for data in streams.values()]
            ours, pano = ours_runner(mode), panoramisk_runner(mode)
            best = best_of(args.repeat, {"ours": functools.partial(ours, sliced),
                                         "panoramisk": functools.partial(pano, sliced)})
            (t_ours, n_ours), (t_pano, n_pano) = best["ours"], best["panoramisk"]
            rate_ours, rate_pano = n_ours / t_ours, n_pano / t_pano
            ratio = rate_ours / rate_pano
            if mode not in worst or ratio < worst[mode][0]:
                worst[mode] = (ratio, size)
            note = f"{n_ours}" if n_ours == n_pano else f"{n_ours} vs {n_pano}"
            if mode == "dispatch":
                note += ", same messages" if same_messages(sliced) else ", MESSAGES DIFFER"
            print(f"{mode:<9} {size:>6} {rate_ours:>12,.0f} {rate_pano:>17,.0f} {ratio:>5.2f}x  {note}")
            results.append({"mode": mode, "chunk": size, "ours_msg_per_s": round(rate_ours),
                            "panoramisk_msg_per_s": round(rate_pano), "ratio": round(ratio, 2),
                            "messages_ours": n_ours, "messages_panoramisk": n_pano})
    print()
    for mode, (ratio, size) in worst.items():
        verdict = "meets" if ratio >= TARGET_RATIO else "is below"
        print(f"{mode}: worst ratio {ratio:.2f}x (chunk {size}) {verdict} the {TARGET_RATIO:.0f}x target")
    if args.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
