"""``python -m voicemail.standin --port 5038 --spool DIR [--timing lab] [--formats wav49,wav]
[--caller NAME=STEPS ...] [--phone NAME=STEPS ...] [--file-root DIR] [--sounds-dir DIR]``"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from voicemail.standin.config import LAB_MAILBOXES, StandinConfig
from voicemail.standin.server import AsteriskStandin


def parse(argv: list[str] | None = None) -> StandinConfig:
    ap = argparse.ArgumentParser(prog="python -m voicemail.standin",
                                 description="Asterisk 22 stand-in: AMI on a TCP port, app_voicemail spool files.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5038)
    ap.add_argument("--spool", type=Path, required=True, help="the .../voicemail spool directory")
    ap.add_argument("--username", default="lab")
    ap.add_argument("--secret", default="labsecret")
    ap.add_argument("--timing", choices=("lab", "fast"), default="fast")
    ap.add_argument("--formats", default="wav", help="voicemail.conf format list, e.g. wav49,wav")
    ap.add_argument("--maxmsg", type=int, default=100)
    ap.add_argument("--caller", action="append", default=[], metavar="NAME=STEPS",
                    help="a scripted caller, Local/NAME@vmphone/n, e.g. 'x1=Wait(2.4),SendDTMF(4242#),Wait(60),Hangup'")
    ap.add_argument("--phone", action="append", default=[], metavar="NAME=STEPS",
                    help="a scripted phone for Originate, Local/NAME@phonesim/n, e.g. 'desk=Ringing,Wait(3),Answer'")
    ap.add_argument("--file-root", type=Path, default=None,
                    help="absolute sound and recording paths of AGI commands are taken under this directory")
    ap.add_argument("--sounds-dir", type=Path, default=None, help="extra prompts, <dir>/<name>.wav")
    args = ap.parse_args(argv)
    callers, phones = _scripts(ap, args.caller), _scripts(ap, args.phone)
    formats = tuple(f for f in args.formats.replace("|", ",").split(",") if f)
    return StandinConfig(spool_dir=args.spool, host=args.host, port=args.port, username=args.username,
                         secret=args.secret, mailboxes=LAB_MAILBOXES, formats=formats, timing=args.timing,
                         maxmsg=args.maxmsg, callers=callers, phones=phones, file_root=args.file_root,
                         sounds_dir=args.sounds_dir).validated()


def _scripts(ap: argparse.ArgumentParser, items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, eq, steps = item.partition("=")
        if not eq or not name or not steps:
            ap.error(f"expected NAME=STEPS, not {item[:40]!r}")
        out[name] = steps
    return out


async def serve(config: StandinConfig) -> None:
    standin = AsteriskStandin(config)
    await standin.start()
    print(f"Asterisk stand-in: AMI on {config.host}:{standin.port}, spool {config.spool_dir} "
          f"(timing {config.timing}); Ctrl-C to stop", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await standin.stop()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = parse(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
