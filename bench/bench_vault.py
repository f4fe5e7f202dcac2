"""Vault throughput and memory, measured against baselines in the same run.

    python bench/bench_vault.py [--size BYTES] [--repeat N] [--dir DIR]

* seal: WAV file -> sealed blob (FileVault.seal: read, SHA-256, AES-GCM, write, fsync, rename, fsync dir)
* seal + verify: the same, then FileVault.verify of the new blob (decrypt every chunk, SHA-256 of the
  plaintext, compare), as custody does before it records a seal
* copy: the same file -> a new file, plain user-space copy (1 MiB reads and writes), then fsync: the I/O
  floor of any durable file -> file copy here. Seal, seal + verify, copy and the one-thread seal (the
  former writer's algorithm: 64 KiB read, hash, encrypt, write in turn, then fsync) run in rounds of
  four, each round starting with another one, so all see the same machine load. Each round gives a
  ratio copy time / seal time; the median of these per-round ratios is the verdict (target: seal >= 80 %
  of copy), the best-of-N ratio is shown beside it.
* shorter recordings (10 s to 8 min): wall and CPU time of the seal's writer and of the one-thread seal,
  each into a file + fsync, in rounds
* open: sealed blob -> plaintext file (FileVault.open: read, authenticate + decrypt, write; no fsync)
* baseline: raw AESGCM encrypt / decrypt over the same bytes, already in memory, in the same chunk size

Throughput is in MB/s of plaintext (MB = 10^6 bytes), best and median of N runs (default 7); open is
held to >= 25 % of its in-memory baseline. Memory is measured in a fresh child process per operation:
the tracemalloc peak during the operation, and the growth of the peak resident set (VmHWM) above the
child's idle high-water mark (taken after imports and a 1-byte warm-up seal); the target is <= 16 MB.
On a machine shared with other jobs only the ratios within one run mean anything (the load average at
the end and the CPU seconds per seal are printed).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cryptography
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voicemail.vault import DEFAULT_CHUNK_SIZE, FileVault, new_data_key
from voicemail.vault.private_files import start_writeback
from voicemail.vault.seal_writer import BATCH_BYTES
from voicemail.vault.sealed_stream import NONCE_PREFIX_BYTES, chunk_nonce, encode_header, seal_stream

PCM_BYTES = 57_600_000  # one hour of 8 kHz 16-bit mono, as app_voicemail records "wav"
KEY_ID = b"1795978545-0000002a"
TARGET_RATIO = 0.25  # open vs in-memory decrypt
TARGET_SEAL_VS_COPY = 0.80
COPY_BLOCK = 1 << 20
TARGET_MEMORY = 16_000_000


def write_wav(path: Path, pcm_bytes: int) -> None:
    header = (b"RIFF" + struct.pack("<I", 36 + pcm_bytes) + b"WAVE"
              + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
              + b"data" + struct.pack("<I", pcm_bytes))
    rng = random.Random(20240229)
    with path.open("wb") as out:
        out.write(header)
        left = pcm_bytes
        while left:
            block = rng.randbytes(min(left, 1 << 20))
            out.write(block)
            left -= len(block)


def timed(run: Callable[[], None], setup: Callable[[], None] = lambda: None) -> float:
    """Wall time of one run, started with no dirty pages left by anything before it."""
    setup()
    os.sync()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def timed_cpu(run: Callable[[], None], setup: Callable[[], None]) -> tuple[float, float]:
    """Wall and CPU seconds (all threads of this process) of one run, started with no dirty pages."""
    setup()
    os.sync()
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def best_of(repeat: int, run: Callable[[], None], setup: Callable[[], None] = lambda: None) -> float:
    """Best wall time of ``repeat`` runs; each starts with no dirty pages from the previous one."""
    return min(timed(run, setup) for _ in range(repeat))


def baseline(data: bytes, chunk: int, repeat: int) -> tuple[float, float]:
    """Seconds for raw in-memory AES-256-GCM encrypt and decrypt of ``data`` in ``chunk``-sized pieces."""
    aead = AESGCM(new_data_key())
    aad = b"x" * 48  # about the size of a real header
    view = memoryview(data)
    nonces = [os.urandom(12) for _ in range(0, len(data) + 1, chunk)]

    def encrypt() -> None:
        for n, offset in enumerate(range(0, len(data), chunk)):
            aead.encrypt(nonces[n], view[offset:offset + chunk], aad)

    sealed = [aead.encrypt(nonces[n], view[o:o + chunk], aad) for n, o in enumerate(range(0, len(data), chunk))]

    def decrypt() -> None:
        for n, frame in enumerate(sealed):
            aead.decrypt(nonces[n], frame, aad)

    return best_of(repeat, encrypt), best_of(repeat, decrypt)


def two_thread_parallelism(work: Callable[[], None]) -> float:
    """CPU seconds per wall second while two threads run ``work``: 2.0 if they run in parallel (the
    call releases the GIL), 1.0 if the GIL serializes them (lower still on a loaded machine)."""
    threads = [threading.Thread(target=work) for _ in range(2)]
    wall, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return (time.process_time() - cpu) / (time.perf_counter() - wall)


def gil_check() -> dict[str, float]:
    """Which of the seal's CPU steps can overlap on two threads (the reason for its thread layout)."""
    data = os.urandom(4 << 20)
    key = new_data_key()
    aead = AESGCM(key)

    def aes_gcm() -> None:
        out = bytearray(len(data) + 16)
        for _ in range(40):
            aead.encrypt_into(b"\0" * 12, data, b"", out)

    def aes_gcm_stream() -> None:
        out = bytearray(len(data) + 15)
        for _ in range(40):
            Cipher(algorithms.AES(key), modes.GCM(b"\0" * 12)).encryptor().update_into(data, out)

    def sha256() -> None:
        for _ in range(10):
            hashlib.sha256(data)

    return {name: two_thread_parallelism(work) for name, work in
            [("AESGCM.encrypt_into", aes_gcm), ("Cipher GCM update_into", aes_gcm_stream),
             ("hashlib.sha256", sha256)]}


def serial_seal(source: BinaryIO, sink: BinaryIO, dek: bytes, chunk: int) -> None:
    """The same blob, sealed chunk by chunk on one thread (read, hash, encrypt, write in turn)."""
    prefix = os.urandom(NONCE_PREFIX_BYTES)
    header = encode_header(KEY_ID, chunk, prefix)
    aead, digest = AESGCM(dek), hashlib.sha256()
    sink.write(header)
    current, index = source.read(chunk), 0
    while True:
        following = source.read(chunk) if len(current) == chunk else b""
        digest.update(current)
        sink.write(aead.encrypt(chunk_nonce(prefix, index, not following), current, header))
        if not following:
            return
        current, index = following, index + 1


def vault_times(vault: FileVault, wav: Path, out: Path, repeat: int) -> tuple[dict[str, list[float]], str]:
    """Wall times of each operation, ``repeat`` runs each; seal and copy interleaved in pairs."""
    dek = new_data_key()
    digest = ""
    copy = out.with_name("copy.bin")

    def seal() -> None:
        nonlocal digest
        with wav.open("rb") as source:
            digest = vault.seal(source, "bench.wav", dek, KEY_ID).sha256

    def seal_verify() -> None:  # custody's path: seal, then decrypt and hash the blob again
        with wav.open("rb") as source:
            sealed = vault.seal(source, "bench.wav", dek, KEY_ID)
        vault.verify("bench.wav", dek, KEY_ID, sealed.sha256)

    def plain_copy(writeback: bool = False) -> None:
        buffer = memoryview(bytearray(COPY_BLOCK))
        with wav.open("rb", buffering=0) as source, copy.open("wb", buffering=0) as sink:
            written = 0
            while size := source.readinto(buffer):
                sink.write(buffer[:size])
                written += size
                if writeback:
                    start_writeback(sink.fileno(), written)
            os.fsync(sink.fileno())

    def sendfile_copy() -> None:
        shutil.copyfile(wav, copy)  # os.sendfile on Linux: no user-space copy at all
        with copy.open("rb") as handle:
            os.fsync(handle.fileno())

    def seal_no_fsync() -> None:  # the same work as seal() minus fsync / rename / directory fsync
        with wav.open("rb") as source, copy.open("wb") as sink:
            seal_stream(source, sink, dek, KEY_ID, vault.chunk_size)

    def seal_one_thread() -> None:
        with wav.open("rb") as source, copy.open("wb") as sink:
            serial_seal(source, sink, dek, vault.chunk_size)
            sink.flush()
            os.fsync(sink.fileno())

    fresh_blob = lambda: vault.delete("bench.wav")  # noqa: E731  (a seal makes a new blob)
    fresh_copy = lambda: copy.unlink(missing_ok=True)  # noqa: E731
    rounds = [("seal", seal, fresh_blob), ("copy", plain_copy, fresh_copy),
              ("seal_verify", seal_verify, fresh_blob), ("seal_one_thread", seal_one_thread, fresh_copy)]
    times: dict[str, list[float]] = {name: [] for name, _, _ in rounds}
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in rounds}
    for n in range(repeat):  # each round runs all four, starting with a different one each time
        for name, run, setup in rounds[n % len(rounds):] + rounds[:n % len(rounds)]:
            wall, used = timed_cpu(run, setup)
            times[name].append(wall)
            cpu[name].append(used)
    times.update({f"cpu_{name}": values for name, values in cpu.items()})
    times["open"] = [best_of(repeat, open_to_file(vault, out, dek), lambda: out.unlink(missing_ok=True))]
    for name, run in [("copy_writeback", lambda: plain_copy(writeback=True)), ("sendfile", sendfile_copy),
                      ("seal_no_fsync", seal_no_fsync)]:
        times[name] = [best_of(repeat, run, fresh_copy)]
    times["verify"] = [best_of(repeat, lambda: vault.verify("bench.wav", dek, KEY_ID, digest))]
    return times, digest


SHORT_SIZES = [160_044, 960_044, 3_000_044, 8_000_044]  # 10 s, 1 min, about 3 and 8 min of 8 kHz audio


def short_recordings(work: Path, repeat: int) -> dict[int, dict[str, tuple[float, float]]]:
    """Best wall and CPU seconds (all threads) of sealing shorter recordings into a file + fsync, the
    seal's writer and the one-thread seal in rounds: where the threads start to pay, and that short
    recordings lose nothing."""
    dek = new_data_key()
    results: dict[int, dict[str, tuple[float, float]]] = {}
    for size in SHORT_SIZES:
        wav, copy = work / f"short-{size}.wav", work / "short-copy.bin"
        write_wav(wav, size - 44)

        def seal(wav: Path = wav, copy: Path = copy) -> None:  # the writer FileVault.seal uses, same fsync
            with wav.open("rb") as source, copy.open("wb") as sink:
                seal_stream(source, sink, dek, KEY_ID, DEFAULT_CHUNK_SIZE, start_writeback=True)
                sink.flush()
                os.fsync(sink.fileno())

        def seal_one_thread(wav: Path = wav, copy: Path = copy) -> None:
            with wav.open("rb") as source, copy.open("wb") as sink:
                serial_seal(source, sink, dek, DEFAULT_CHUNK_SIZE)
                sink.flush()
                os.fsync(sink.fileno())

        runs: dict[str, list[tuple[float, float]]] = {"seal": [], "one": []}
        for n in range(repeat):
            for name, run in [("seal", seal), ("one", seal_one_thread)][::1 if n % 2 else -1]:
                copy.unlink(missing_ok=True)
                os.sync()
                wall, cpu = time.perf_counter(), time.process_time()
                run()
                runs[name].append((time.perf_counter() - wall, time.process_time() - cpu))
        results[size] = {name: (min(w for w, _ in got), min(c for _, c in got)) for name, got in runs.items()}
        wav.unlink()
    return results


def open_to_file(vault: FileVault, out: Path, dek: bytes) -> Callable[[], None]:
    def run() -> None:
        with out.open("wb") as sink:
            for piece in vault.open("bench.wav", dek, KEY_ID):
                sink.write(piece)
    return run


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def peak_rss() -> int:
    """This process's peak resident set in bytes.

    VmHWM belongs to the current address space, so it starts afresh at exec; ru_maxrss does not (on
    Linux a child inherits its parent's high-water mark at fork), so it is only the fallback.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def child(mode: str, vault_dir: Path, wav: Path, out: Path, trace: bool) -> None:
    """Run one operation in this fresh process and print its memory use as JSON."""
    dek = bytes.fromhex(sys.stdin.readline().strip())
    vault = FileVault(vault_dir)
    warm = vault_dir.parent / "warm.bin"
    warm.write_bytes(b"w")
    with warm.open("rb") as source:
        vault.seal(source, "warm", new_data_key(), KEY_ID)
    idle = peak_rss()
    if trace:
        tracemalloc.start()
    if mode == "seal":
        with wav.open("rb") as source:
            vault.seal(source, "child.wav", dek, KEY_ID)
    else:
        with out.open("wb") as sink:
            for piece in vault.open("bench.wav", dek, KEY_ID):
                sink.write(piece)
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    rss = peak_rss() - idle
    print(json.dumps({"tracemalloc_peak": peak, "rss_delta": rss, "idle": idle}))


def measure_child(mode: str, vault_dir: Path, wav: Path, out: Path, dek: bytes, trace: bool) -> dict[str, int]:
    args = [sys.executable, __file__, "--child", mode, "--dir", str(vault_dir.parent), "--wav", str(wav),
            "--out", str(out)] + (["--trace"] if trace else [])
    done = subprocess.run(args, input=dek.hex() + "\n", capture_output=True, text=True, check=True)
    return {key: int(value) for key, value in json.loads(done.stdout).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=PCM_BYTES, help="PCM bytes in the WAV file")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dir", type=Path, help="work folder (default: a fresh temp folder)")
    parser.add_argument("--child", choices=["seal", "open"], help=argparse.SUPPRESS)
    parser.add_argument("--wav", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.dir / "vault", args.wav, args.out, args.trace)
        return
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-vault-") as work_name:
        run(Path(work_name), args.size, args.repeat)


def run(work: Path, pcm_bytes: int, repeat: int) -> None:
    wav, out, vault_dir = work / "message.wav", work / "opened.wav", work / "vault"
    write_wav(wav, pcm_bytes)
    size = wav.stat().st_size
    chunk = DEFAULT_CHUNK_SIZE
    vault = FileVault(vault_dir, chunk_size=chunk)
    dek = new_data_key()
    with wav.open("rb") as source:
        vault.seal(source, "bench.wav", dek, KEY_ID)  # for the "open" children
    memory = {(mode, trace): measure_child(mode, vault_dir, wav, out, dek, trace)
              for mode in ("seal", "open") for trace in (True, False)}
    enc_s, dec_s = baseline(wav.read_bytes(), chunk, repeat)
    times, digest = vault_times(vault, wav, out, repeat)
    parallel = gil_check()
    short = short_recordings(work, repeat)
    assert digest == file_sha256(wav) == file_sha256(out), "round trip changed the file"

    print(f"vault benchmark: {size:,}-byte WAV-like file, chunk {chunk} B, batches of {BATCH_BYTES >> 20} MiB, "
          f"{repeat} runs; Python {platform.python_version()}, cryptography {cryptography.__version__}, "
          f"{os.cpu_count()} CPU, load average {os.getloadavg()[0]:.1f} at the end")
    print()
    rate = lambda seconds: size / seconds / 1e6  # noqa: E731
    copy = times["copy"]
    print(f"{'seal vs copy, run in rounds (MB/s)':<46}{'best':>7}{'median':>8}{'CPU ms':>8}"
          f"{'vs copy: median round':>23}{'best':>6}   target")
    print(f"{'copy + fsync (1 MiB read/write, no crypto)':<46}{rate(min(copy)):>7.0f}"
          f"{rate(statistics.median(copy)):>8.0f}{statistics.median(times['cpu_copy']) * 1e3:>8.0f}")
    verdicts: list[bool] = []
    for label, name, target in [("seal  file -> vault (SHA-256, fsync, rename)", "seal", TARGET_SEAL_VS_COPY),
                                ("seal + verify (as custody does)", "seal_verify", None)]:
        runs = times[name]
        ratios = sorted(c / s for s, c in zip(runs, copy, strict=True))
        median = statistics.median(ratios)
        line = (f"{label:<46}{rate(min(runs)):>7.0f}{rate(statistics.median(runs)):>8.0f}"
                f"{statistics.median(times['cpu_' + name]) * 1e3:>8.0f}{median:>23.0%}{min(copy) / min(runs):>6.0%}")
        if target is not None:
            verdicts.append(median >= target)
            line += f"   >= {target:.0%} {'ok' if verdicts[-1] else 'MISSED'}"
        print(line)
        print(f"  {name.replace('_', ' + ')}/copy of each round: min {ratios[0]:.0%}, median {median:.0%}, "
              f"max {ratios[-1]:.0%}")
    seal = times["seal"]
    one = times["seal_one_thread"]
    print(f"{'  reference: seal on one thread, 64 KiB steps':<46}{rate(min(one)):>7.0f}"
          f"{rate(statistics.median(one)):>8.0f}{statistics.median(times['cpu_seal_one_thread']) * 1e3:>8.0f}"
          f"{'':>23}{min(copy) / min(one):>6.0%}")
    gains = sorted(o / s for s, o in zip(seal, one, strict=True))
    print(f"    seal speed / one-thread speed of each round: min {gains[0]:.2f}, "
          f"median {statistics.median(gains):.2f}, max {gains[-1]:.2f}")
    for label, name in [("  reference: verify alone (best)", "verify"),
                        ("  reference: copy + fsync, early writeback", "copy_writeback"),
                        ("  reference: sendfile copy + fsync", "sendfile"),
                        ("  reference: seal work without any fsync", "seal_no_fsync")]:
        print(f"{label:<46}{rate(times[name][0]):>7.0f}{'':>39}{min(copy) / times[name][0]:>6.0%}")
    print("  two threads at once, CPU s per wall s (2.00: GIL released, 1.00: serialized): "
          + ", ".join(f"{name} {value:.2f}" for name, value in parallel.items()))
    print()
    print(f"{'shorter recordings into file + fsync (best, ms)':<48}{'seal wall / CPU':>15}"
          f"{'one thread wall / CPU':>23}")
    for n, got in short.items():
        (sw, sc), (ow, oc) = got["seal"], got["one"]
        print(f"{f'  {n / 1e6:.2f} MB':<46}{sw * 1e3:>8.2f} / {sc * 1e3:>5.2f}{ow * 1e3:>14.2f} / {oc * 1e3:>5.2f}")
    print()
    print(f"{'in-memory baselines (MB/s)':<46}{'best':>7}{'':>8}{'vs base':>9}   target")
    for label, seconds, base in [("baseline encrypt (in memory, AES-GCM only)", enc_s, None),
                                 ("baseline decrypt (in memory, AES-GCM only)", dec_s, None),
                                 ("open  vault -> file (authenticated chunks)", times["open"][0], dec_s)]:
        line = f"{label:<46}{rate(seconds):>7.0f}"
        if base is not None:
            verdicts.append(base / seconds >= TARGET_RATIO)
            line += (f"{'':>8}{base / seconds:>9.0%}   >= {TARGET_RATIO:.0%} "
                     f"{'ok' if verdicts[-1] else 'MISSED'}")
        print(line)
    print()
    idle = memory[("seal", False)]["idle"]
    print(f"{f'memory (fresh child; idle peak RSS {idle / 1e6:.0f} MB)':<46}"
          f"{'tracemalloc peak':>17}{'peak RSS delta':>17}   target")
    for mode in ("seal", "open"):
        peak, rss = memory[(mode, True)]["tracemalloc_peak"], memory[(mode, False)]["rss_delta"]
        worst = max(peak, rss)
        verdicts.append(worst <= TARGET_MEMORY)
        print(f"{mode + f' {size / 1e6:.1f} MB file':<46}{peak / 1e6:>14.2f} MB{rss / 1e6:>14.2f} MB"
              f"   <= {TARGET_MEMORY / 1e6:.0f} MB {'ok' if worst <= TARGET_MEMORY else 'MISSED'}")
    print()
    print("all targets met" if all(verdicts) else "SOME TARGETS MISSED")


if __name__ == "__main__":
    main()
