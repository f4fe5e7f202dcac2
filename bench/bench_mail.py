"""Notification senders: notifications/s per backend against the local test peers, and the cost of our
render + disclosure policy against a bare smtplib send to the same SMTP server. All in one run.

Each peer runs in its own process (so its work does not share our GIL):
  ews     the EWS endpoint of tests/integration/mail (HTTP, Basic; it validates every request against
          Microsoft's schema, from VOICEMAIL_EWS_SCHEMA), one exchangelib session kept open
  graph   the Graph + token endpoint (HTTPS, msal token cached), one HTTP session
  smtp    aiosmtpd with STARTTLS + AUTH, one connection kept open
  outbox  .eml files (fsync each)

Overhead (the target: render + policy < 10 % of the send):
  bare     smtplib.SMTP.sendmail of an already-rendered message over a STARTTLS + AUTH connection
  ours     compose (policy + templates) + SmtpMailer.send (render + send) over the same kind of connection
  render   compose + render_rfc5322 alone, no network
Rounds alternate bare / ours / render so drift on a shared machine hits all three; medians count. The
facts of each notification are the input (the Notifier reads them from the database) and are built before
the timing; the same notifications are sent by both paths.

Usage: python bench/bench_mail.py [--messages 300] [--rounds 7]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import smtplib
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "unit" / "mailer"))

from mailer import MailSettings, NotificationFacts, OutboxMailer, compose, render_rfc5322  # noqa: E402
from mailer.ews import EwsConfig, EwsMailer  # noqa: E402
from mailer.graph import GraphConfig, GraphMailer  # noqa: E402
from mailer.smtp import SmtpConfig, SmtpMailer  # noqa: E402
from tests.integration.mail.ews_schema import SKIP_REASON, schema_available  # noqa: E402
from tests.integration.mail.tls import TestCertificates, make_certificates  # noqa: E402
from voicemail.domain.models import Caller, CallerKind  # noqa: E402

SENDER = "voicemail@example.org"
SETTINGS = MailSettings(sender=SENDER, site_name="Example Voicemail")
SENT = datetime(2026, 11, 29, 19, 0, tzinfo=UTC)


def facts(n: int) -> NotificationFacts:
    caller = (Caller(CallerKind.INTERNAL, name="Bob Colleague", number="1002") if n % 2
              else Caller(CallerKind.EXTERNAL, name="Mallory", number="+12025550123"))
    return NotificationFacts(
        notification_id=f"nq-bench-{n:08d}", recipient="alice@example.test", recipient_name="Alice Owner",
        mailbox="1001@default", caller=caller, received_at=SENT, duration_seconds=63, urgent=n % 5 == 0,
        player_url=f"https://voicemail.example.org/messages/nq-bench-{n:08d}", owner_timezone="Europe/Berlin")


# --- peers, each in a child process -----------------------------------------------------------------
def _serve(kind: str, certs: TestCertificates, pipe: Connection) -> None:
    if kind == "ews":
        from tests.integration.mail.ews_peer import EwsPeer

        ews = EwsPeer().start()
        pipe.send({"url": ews.url, "username": ews.username, "password": ews.password})
        pipe.recv()
        pipe.send({"requests": len(ews.requests), "invalid": len(ews.invalid)})
        ews.stop()
    elif kind == "graph":
        from tests.integration.mail.graph_peer import GraphPeer

        graph = GraphPeer(certs.server_context()).start()
        pipe.send({"origin": graph.origin, "tenant": graph.tenant, "client_id": graph.client_id,
                   "client_secret": graph.client_secret})
        pipe.recv()
        pipe.send({"requests": len(graph.messages), "invalid": len(graph.invalid), "tokens": graph.tokens_issued})
        graph.stop()
    else:
        from tests.integration.mail.smtp_peer import SmtpPeer

        smtp = SmtpPeer(tls="starttls", context=certs.server_context()).start()
        pipe.send({"port": smtp.port, "username": smtp.username, "password": smtp.password})
        pipe.recv()
        pipe.send({"requests": len(smtp.delivered), "invalid": 0})
        smtp.stop()


class Peer:
    def __init__(self, kind: str, certs: TestCertificates) -> None:
        self._pipe, child = mp.Pipe()
        self._process = mp.get_context("fork").Process(target=_serve, args=(kind, certs, child), daemon=True)
        self._process.start()
        self.info: dict[str, Any] = self._pipe.recv()

    def stop(self) -> dict[str, Any]:
        self._pipe.send("stop")
        report: dict[str, Any] = self._pipe.recv()
        self._process.join(timeout=10)
        return report


# --- measurements ---------------------------------------------------------------------------------
def rate(send: Callable[[int], object], messages: int) -> float:
    for n in range(5):  # warm-up: connections, TLS, tokens, caches
        send(n)
    began = time.perf_counter()
    for n in range(5, 5 + messages):
        send(n)
    return messages / (time.perf_counter() - began)


def backend_rates(certs: TestCertificates, messages: int) -> dict[str, tuple[float, str]]:
    out: dict[str, tuple[float, str]] = {}
    if schema_available():
        peer = Peer("ews", certs)
        ews = EwsMailer(EwsConfig(endpoint=peer.info["url"], sender=SENDER, username=peer.info["username"],
                                  password=peer.info["password"], auth="basic"))
        value = rate(lambda n: ews.send(compose(facts(n), SETTINGS)), messages)
        report = peer.stop()
        out["ews"] = (value, f"{report['requests']} CreateItem, {report['invalid']} schema-invalid")
    else:
        print(f"ews skipped: {SKIP_REASON}")
    peer = Peer("graph", certs)
    graph = GraphMailer(GraphConfig(tenant_id=peer.info["tenant"], client_id=peer.info["client_id"],
                                    client_secret=peer.info["client_secret"], sender=SENDER,
                                    authority=peer.info["origin"], endpoint=peer.info["origin"],
                                    ca_file=str(certs.ca_file)))
    value = rate(lambda n: graph.send(compose(facts(n), SETTINGS)), messages)
    report = peer.stop()
    out["graph"] = (value, f"{report['requests']} sendMail, {report['tokens']} token(s)")
    peer = Peer("smtp", certs)
    smtp = SmtpMailer(SmtpConfig(host="127.0.0.1", port=peer.info["port"], sender=SENDER,
                                 username=peer.info["username"], password=peer.info["password"],
                                 ca_file=str(certs.ca_file)))
    value = rate(lambda n: smtp.send(compose(facts(n), SETTINGS)), messages)
    smtp.close()
    report = peer.stop()
    out["smtp"] = (value, f"{report['requests']} messages, STARTTLS + AUTH, one connection")
    with tempfile.TemporaryDirectory() as folder:
        outbox = OutboxMailer(Path(folder))
        out["outbox"] = (rate(lambda n: outbox.send(compose(facts(n), SETTINGS)), messages), ".eml + fsync")
    return out


def overhead(certs: TestCertificates, messages: int, rounds: int) -> dict[str, float]:
    peer = Peer("smtp", certs)
    port, user, password = peer.info["port"], peer.info["username"], peer.info["password"]
    context = ssl.create_default_context(cafile=str(certs.ca_file))
    bare = smtplib.SMTP("127.0.0.1", port, timeout=30)
    bare.starttls(context=context)
    bare.login(user, password)
    ours = SmtpMailer(SmtpConfig(host="127.0.0.1", port=port, sender=SENDER, username=user, password=password,
                                 ca_file=str(certs.ca_file)), clock=lambda: SENT)
    # The facts are the input (the Notifier reads them from the database): built once, outside the timing.
    inputs = [facts(n) for n in range(messages + 5)]
    rendered = [render_rfc5322(compose(item, SETTINGS), date=SENT) for item in inputs]
    measures: dict[str, Callable[[int], object]] = {
        "bare": lambda n: bare.sendmail(SENDER, ["alice@example.test"], rendered[n]),
        "ours": lambda n: ours.send(compose(inputs[n], SETTINGS)),
        "render": lambda n: render_rfc5322(compose(inputs[n], SETTINGS), date=SENT),
    }
    times: dict[str, list[float]] = {name: [] for name in measures}
    for round_ in range(rounds):  # forward, then backward: no measurement always runs first or last
        order = list(measures.items()) if round_ % 2 == 0 else list(reversed(measures.items()))
        for name, measure in order:
            times[name].append(1 / rate(measure, messages))
    bare.quit()
    ours.close()
    peer.stop()
    # Ratios are taken round by round (measurements next to each other in time share the machine's state),
    # then the median of the rounds' ratios is reported.
    pairs = list(zip(times["bare"], times["ours"], times["render"], strict=True))
    return {name: statistics.median(values) for name, values in times.items()} | {
        "ours_ratio": statistics.median(ours / bare for bare, ours, _ in pairs),
        "render_ratio": statistics.median(render / bare for bare, _, render in pairs),
        "bare_spread": (max(times["bare"]) - min(times["bare"])) / statistics.median(times["bare"])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        certs = make_certificates(Path(folder))
        print(f"Python {platform.python_version()} on {platform.machine()}, {mp.cpu_count()} CPU(s); "
              f"{args.messages} notifications per measurement (half internal, half external callers)")
        rates = backend_rates(certs, args.messages)
        print("\nbackend   notifications/s   ms each   notes")
        for name, (value, notes) in rates.items():
            print(f"{name:<9} {value:>15,.0f}   {1000 / value:>7.2f}   {notes}")
        cost = overhead(certs, args.messages, args.rounds)
    print("\nrender + policy vs a bare smtplib send (same server, STARTTLS + AUTH, connection kept open; "
          f"{args.rounds} rounds, medians; ratios taken per round)")
    print(f"  bare smtplib send of a pre-rendered message   {cost['bare'] * 1000:7.3f} ms   "
          f"(rounds spread {cost['bare_spread']:.0%} around it on this machine)")
    print(f"  compose + render (no network)                 {cost['render'] * 1000:7.3f} ms   "
          f"= {cost['render_ratio']:.1%} of the bare send")
    print(f"  compose + SmtpMailer.send                     {cost['ours'] * 1000:7.3f} ms   "
          f"= {cost['ours_ratio'] - 1:+.1%} against the bare send")
    verdict = "met" if cost["render_ratio"] < 0.10 else "MISSED"
    print(f"target render + policy < 10 % of the send: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
