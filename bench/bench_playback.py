"""Web playback: time to the first audio byte and memory for a 60-minute message, against reading the
same plaintext file from disk, in the same run.

    python bench/bench_playback.py [--minutes 60] [--repeat 200] [--dir DIR]

* baseline: open the plaintext WAV and read its first 64 KiB (what a plain file server does first),
  with the file in the page cache (warm) and with its pages dropped first (from disk, posix_fadvise
  DONTNEED: no root needed);
* service: ``AudioSource.open`` (the decrypting part of MailboxServices.audio: unwrap the data key,
  open the sealed blob, check its size, decrypt and authenticate the first vault chunk) up to the
  first chunk; for the whole file and for a Range from the middle (a browser seek), warm and from disk;
* wav49: the same message recorded as GSM "wav49" (made with ffmpeg), transcoded to PCM WAV through
  an ffmpeg subprocess; shown for information (it starts a process; there is no target).

Time to first byte is the median (and p90) of N runs on a warm page cache; target: service <= 2x the
baseline. Memory: a fresh child process per operation streams the whole message (discarding it) and
reports the tracemalloc peak and the growth of its peak RSS above its idle mark; target <= 16 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voicemail.domain.mailbox import ByteRange
from voicemail.domain.models import Caller, MailboxRef, SealedRecording
from voicemail.domain.records import MessageRecord
from voicemail.services.playback import AudioSource
from voicemail.services.transcode import ffmpeg_path
from voicemail.vault import FileKeyring, FileVault, new_data_key

MESSAGE_ID = "5f0c6a52-6d2b-4a8e-9d7e-2b1f3c4d5e6f"
READ = 64 * 1024
TARGET_RATIO = 2.0
TARGET_MEMORY = 16_000_000


def write_wav(path: Path, seconds: int) -> None:
    pcm = seconds * 16000
    header = (b"RIFF" + struct.pack("<I", 36 + pcm) + b"WAVE" + b"fmt "
              + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data" + struct.pack("<I", pcm))
    block = os.urandom(1 << 20)
    with path.open("wb") as out:
        out.write(header)
        left = pcm
        while left:
            out.write(block[:min(left, len(block))])
            left -= min(left, len(block))


def make_gsm(wav: Path, gsm: Path) -> None:
    subprocess.run([ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "gsm_ms",
                    "-ar", "8000", "-ac", "1", "-f", "wav", str(gsm)], check=True)


def seal(work: Path, files: dict[str, Path], seconds: int) -> tuple[AudioSource, MessageRecord]:
    keyring = FileKeyring.create(work / "keyring.json")
    vault = FileVault(work / "vault")
    dek = new_data_key()
    key_id = MESSAGE_ID.encode()
    recordings = []
    for fmt, path in files.items():
        with path.open("rb") as source:
            sealed = vault.seal(source, f"{MESSAGE_ID}.{fmt}.bench", dek, key_id)
        recordings.append(SealedRecording(fmt, sealed.blob_name, sealed.sha256, sealed.size))
    record = MessageRecord(MESSAGE_ID, MailboxRef("default", "1001"), "1795978545-0000002a", "stripped", "INBOX",
                           1795978545, seconds, False, Caller.external(), keyring.wrap(dek, key_id),
                           tuple(recordings))
    return AudioSource(keyring, vault.path_for), record


def only(record: MessageRecord, fmt: str) -> MessageRecord:
    from dataclasses import replace

    return replace(record, recordings=tuple(r for r in record.recordings if r.fmt == fmt))


def first_byte_plain(path: Path, offset: int = 0) -> float:
    start = time.perf_counter()
    with path.open("rb") as f:
        if offset:
            f.seek(offset)
        data = f.read(READ)
    took = time.perf_counter() - start
    assert data
    return took


def evict(*paths: Path) -> None:
    """Drop the files' pages from the page cache, so the next read comes from the disk."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def cold(measure: Callable[[], float], *paths: Path) -> float:
    evict(*paths)
    return measure()


def first_byte_service(source: AudioSource, record: MessageRecord, rng: ByteRange | None) -> float:
    start = time.perf_counter()
    stream = source.open(record, rng, "browser")
    data = next(stream.chunks)
    took = time.perf_counter() - start
    for close in stream.close:
        if callable(close):
            close()
    assert data
    return took


def peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def child(mode: str, work: Path, seconds: int, trace: bool) -> None:
    files = {"wav": work / "message.wav", "WAV": work / "message-gsm.WAV"}
    keyring = FileKeyring(work / "keyring.json")
    vault = FileVault(work / "vault")
    record = json.loads((work / "record.json").read_text())
    from voicemail.domain.models import WrappedKey

    recs = tuple(SealedRecording(**r) for r in record["recordings"])
    full = MessageRecord(MESSAGE_ID, MailboxRef("default", "1001"), "1795978545-0000002a", "stripped", "INBOX",
                         1795978545, seconds, False, Caller.external(),
                         WrappedKey(record["kek_id"], bytes.fromhex(record["wrapped"])), recs)
    source = AudioSource(keyring, vault.path_for)
    idle = peak_rss()
    if trace:
        tracemalloc.start()
    total = 0
    if mode == "plain":
        with files["wav"].open("rb") as f:
            while block := f.read(READ):
                total += len(block)
    else:
        stream = source.open(only(full, "wav" if mode == "pcm" else "WAV"), None, "browser")
        for piece in stream.chunks:
            total += len(piece)
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    print(json.dumps({"tracemalloc_peak": peak, "rss_delta": peak_rss() - idle, "bytes": total}))


def measure_child(mode: str, work: Path, seconds: int, trace: bool) -> dict[str, int]:
    args = [sys.executable, __file__, "--child", mode, "--dir", str(work), "--minutes", str(seconds / 60)]
    done = subprocess.run(args + (["--trace"] if trace else []), capture_output=True, text=True, check=True)
    return {k: int(v) for k, v in json.loads(done.stdout).items()}


def summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.9) - 1]


def run(work: Path, seconds: int, repeat: int) -> None:
    wav, gsm = work / "message.wav", work / "message-gsm.WAV"
    write_wav(wav, seconds)
    make_gsm(wav, gsm)
    source, record = seal(work, {"wav": wav, "WAV": gsm}, seconds)
    assert record.wrapped_key is not None
    (work / "record.json").write_text(json.dumps({
        "kek_id": record.wrapped_key.kek_id, "wrapped": record.wrapped_key.blob.hex(),
        "recordings": [r.__dict__ for r in record.recordings]}))
    pcm, gsm_only = only(record, "wav"), only(record, "WAV")
    middle = wav.stat().st_size // 2
    os.sync()
    blob = source._blob_path(pcm.recordings[0].blob_name)
    for _ in range(20):  # warm the page cache and the code paths
        first_byte_plain(wav)
        first_byte_service(source, pcm, None)
    rows = {
        "plain": summary([first_byte_plain(wav) for _ in range(repeat)]),
        "plain_mid": summary([first_byte_plain(wav, middle) for _ in range(repeat)]),
        "pcm": summary([first_byte_service(source, pcm, None) for _ in range(repeat)]),
        "pcm_mid": summary([first_byte_service(source, pcm, ByteRange(middle, None)) for _ in range(repeat)]),
        "plain_cold": summary([cold(lambda: first_byte_plain(wav), wav) for _ in range(repeat)]),
        "pcm_cold": summary([cold(lambda: first_byte_service(source, pcm, None), blob) for _ in range(repeat)]),
        "gsm": summary([first_byte_service(source, gsm_only, None) for _ in range(max(5, repeat // 10))]),
        "gsm_mid": summary([first_byte_service(source, gsm_only, ByteRange(middle, None))
                            for _ in range(max(5, repeat // 10))]),
    }
    memory = {(mode, trace): measure_child(mode, work, seconds, trace)
              for mode in ("plain", "pcm", "wav49") for trace in (True, False)}
    size = wav.stat().st_size
    print(f"playback benchmark: {seconds / 60:.0f}-minute message ({size:,} B PCM WAV, {gsm.stat().st_size:,} B "
          f"wav49), first read {READ // 1024} KiB, {repeat} runs; Python {platform.python_version()}, "
          f"{os.cpu_count()} CPU")
    print()
    print(f"{'time to first audio byte':<58}{'median':>10}{'p90':>10}{'vs baseline':>13}   target")
    verdicts = []

    def line(label: str, key: str, base: str | None, target: bool) -> None:
        med, p90 = rows[key]
        text = f"{label:<58}{med * 1e3:>8.3f}ms{p90 * 1e3:>8.3f}ms"
        if base is not None:
            ratio = med / rows[base][0]
            text += f"{ratio:>12.1f}x"
            if target:
                verdicts.append(ratio <= TARGET_RATIO)
                text += f"    <= {TARGET_RATIO:.0f}x {'ok' if ratio <= TARGET_RATIO else 'MISSED'}"
        print(text)

    line("baseline: plaintext file, first 64 KiB", "plain", None, False)
    line("service: sealed wav, decrypted on the fly", "pcm", "plain", True)
    line("baseline: plaintext file, seek to the middle", "plain_mid", None, False)
    line("service: sealed wav, Range from the middle", "pcm_mid", "plain_mid", True)
    line("baseline: plaintext file from disk (page cache dropped)", "plain_cold", None, False)
    line("service: sealed wav from disk (page cache dropped)", "pcm_cold", "plain_cold", True)
    line("info: sealed wav49 -> PCM WAV, first bytes (our header)", "gsm", "plain", False)
    line("info: sealed wav49, Range from the middle (ffmpeg start)", "gsm_mid", "plain_mid", False)
    print()
    idle = memory[("plain", False)]
    print(f"{'memory, whole message streamed (fresh child)':<58}{'tracemalloc':>14}{'peak RSS delta':>16}   target")
    for mode, label in (("plain", "baseline: plaintext file read"), ("pcm", "service: sealed wav"),
                        ("wav49", "service: sealed wav49 transcoded")):
        peak, rss = memory[(mode, True)]["tracemalloc_peak"], memory[(mode, False)]["rss_delta"]
        text = f"{label:<58}{peak / 1e6:>11.2f} MB{rss / 1e6:>13.2f} MB"
        if mode != "plain":
            worst = max(peak, rss)
            verdicts.append(worst <= TARGET_MEMORY)
            text += f"   <= {TARGET_MEMORY / 1e6:.0f} MB {'ok' if worst <= TARGET_MEMORY else 'MISSED'}"
        print(text)
    assert memory[("pcm", False)]["bytes"] == size and idle["bytes"] == size
    print()
    print("all targets met" if all(verdicts) else "SOME TARGETS MISSED")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--dir", type=Path, help="work folder (default: a fresh temp folder)")
    parser.add_argument("--child", choices=["plain", "pcm", "wav49"], help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    seconds = int(args.minutes * 60)
    if args.child:
        child(args.child, args.dir, seconds, args.trace)
        return
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-playback-") as work:
        run(Path(work), seconds, args.repeat)


if __name__ == "__main__":
    main()
