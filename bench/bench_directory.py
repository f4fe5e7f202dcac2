"""Directory sync and lookup, measured against baselines in the same run.

    python bench/bench_directory.py [--users N] [--page-size N] [--lookups N] [--database-url URL]

Needs Debian's slapd (apt-get install slapd ldap-utils). A throw-away slapd (tests/integration/ldap/slapd.py)
is loaded with N users (default 50,000; AD-like attributes, StartTLS, a 1,000-entry page limit like AD's
MaxPageSize) and:

* **full sync**: LDAP -> database (SQLite in a temp folder, or an empty database at --database-url) in a
  fresh child process:
  wall time, users/s, pages; memory as the tracemalloc peak during the sync (a second child) and the
  growth of the resident high-water mark (VmHWM) over the child's state after imports and a connection;
  **baseline**: the tracemalloc peak of the same entries fetched page by page but *kept* in one list (what
  a non-streaming sync would hold), measured in a third child;
* **incremental sync** after 100 users changed (changed entries + the id-only pass over everybody);
* **lookup latency** per call: DbDirectory.lookup (number plan + one indexed query) for a mix of
  extensions, DIDs, national formats and unknown numbers; **baselines**: the same numbers through
  CsvDirectory (in-memory dict, same plan) and a plain dict lookup of precomputed keys.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.ldap.slapd import (
    PEOPLE,
    READER_DN,
    READER_PASSWORD,
    Slapd,
    make_tls,
    slapd_binary,
    user_ldif,
    user_spec,
)
from voicemail.config import Settings, load_settings

SPEC = {"ext_base": 10000, "did_base": "+120255", "ext_width": 5}  # 5-digit extensions, DIDs +1 202 55x xxxx


def vm_hwm() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def settings_for(server: Slapd, database_url: str, page_size: int) -> Settings:
    return load_settings(environ={
        "VOICEMAIL_DATABASE_URL": database_url, "VOICEMAIL_LDAP_URL": server.ldap_url, "VOICEMAIL_LDAP_STARTTLS": "1",
        "VOICEMAIL_LDAP_CA_FILE": str(server.tls.ca_file), "VOICEMAIL_LDAP_BIND_DN": READER_DN,
        "VOICEMAIL_LDAP_PASSWORD": READER_PASSWORD, "VOICEMAIL_LDAP_BASE_DN": PEOPLE,
        "VOICEMAIL_LDAP_FILTER": "(objectClass=inetOrgPerson)", "VOICEMAIL_LDAP_PAGE_SIZE": str(page_size),
        "VOICEMAIL_LDAP_ATTR_ID": "entryUUID", "VOICEMAIL_LDAP_ATTR_CHANGED": "modifyTimestamp",
        "VOICEMAIL_PHONE_REGION": "US", "VOICEMAIL_EXTENSION_DIGITS": "5",
        "VOICEMAIL_DID_RANGES": "+12025510000-+12025599999=10000"})


# --- child processes (a fresh address space per measurement) -------------------------------------
def child(mode: str, config: dict[str, Any]) -> None:
    from voicemail.db.engine import make_engine, make_sessionmaker
    from voicemail.db.migrate import upgrade
    from voicemail.directory.from_settings import directory_sync, ldap_options
    from voicemail.directory.ldap_source import LdapSource

    settings = load_settings(environ=config["env"])
    engine = make_engine(settings.database_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    options = ldap_options(settings)
    with LdapSource(options) as warm:  # imports, TLS, one tiny search: not part of the measurement
        next(iter(warm.pages("(cn=user00000)", ["cn"])))
    gc.collect()
    idle = vm_hwm()
    pages: list[int] = []
    if mode == "hold-all":  # the baseline: the same pages, all kept
        tracemalloc.start()
        kept: list[Any] = []
        with LdapSource(options) as source:
            for page in source.pages(options.search_filter, options.attributes.requested()):
                kept.extend(page)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(json.dumps({"entries": len(kept), "tracemalloc_peak": peak}))
        return
    if mode == "sync-traced":
        tracemalloc.start()
    started = time.perf_counter()
    summary = directory_sync(settings, sessions).run(full=config["full"], progress=pages.append)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if mode == "sync-traced" else 0
    print(json.dumps({"seconds": seconds, "summary": summary.as_dict(), "pages": len(pages),
                      "max_page": max(pages, default=0), "tracemalloc_peak": peak,
                      "rss_growth": vm_hwm() - idle}))
    engine.dispose()


def run_child(mode: str, env: dict[str, str], full: bool = True) -> dict[str, Any]:
    config = json.dumps({"env": env, "full": full})
    done = subprocess.run([sys.executable, __file__, "--child", mode], input=config, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {mode} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def env_of(settings: Settings) -> dict[str, str]:
    from voicemail.config import env_name

    out: dict[str, str] = {}
    for key, value in settings.__dict__.items():
        out[env_name(key)] = ",".join(value) if isinstance(value, tuple) else str(value)
    return out


# --- lookups --------------------------------------------------------------------------------------
def lookup_numbers(users: int, count: int) -> list[str]:
    rng = random.Random(7)
    numbers: list[str] = []
    for _ in range(count):
        spec = user_spec(rng.randrange(users), **SPEC)  # type: ignore[arg-type]
        did = spec.did
        numbers.append(rng.choice([
            spec.extension,  # as dialled internally
            f"+1 {did[2:5]} {did[5:8]} {did[8:]}",  # DID in international format
            f"({did[2:5]}) {did[5:8]}-{did[8:]}",  # DID in national format
            "+1 312 555 0100",  # an outside number nobody has
        ]))
    return numbers


def per_call_us(fn: Any, numbers: list[str], repeat: int = 5) -> float:
    """Median over ``repeat`` passes of the mean time per call, in microseconds."""
    results = []
    for _ in range(repeat):
        started = time.perf_counter()
        for number in numbers:
            fn(number)
        results.append((time.perf_counter() - started) / len(numbers) * 1e6)
    return statistics.median(results)


def measure_lookups(settings: Settings, users: int, count: int, folder: Path) -> dict[str, float]:
    from voicemail.db.engine import make_engine, make_sessionmaker
    from voicemail.directory import CsvDirectory
    from voicemail.directory.from_settings import db_directory, number_plan

    plan = number_plan(settings)
    engine = make_engine(settings.database_url, autocommit=True)
    directory = db_directory(settings, make_sessionmaker(engine))
    csv_path = folder / "directory.csv"
    with csv_path.open("w", encoding="utf-8") as out:
        out.write("number,name,email\n")
        for i in range(users):
            spec = user_spec(i, **SPEC)  # type: ignore[arg-type]
            if not spec.disabled:
                out.write(f"{spec.extension},{spec.name},{spec.email}\n")
    csv = CsvDirectory(csv_path, plan=plan, max_bytes=64 * 1024 * 1024)
    keys = [plan.key(n) for n in lookup_numbers(users, count)]
    table = {k: csv.lookup(k) for k in keys if k}
    numbers = lookup_numbers(users, count)
    found_db = sum(1 for n in numbers if directory.lookup(n) is not None)
    found_csv = sum(1 for n in numbers if csv.lookup(n) is not None)
    if found_db != found_csv:
        raise SystemExit(f"DbDirectory found {found_db} numbers, CsvDirectory {found_csv}: they must agree")
    result = {
        "db_lookup_us": per_call_us(directory.lookup, numbers),
        "csv_lookup_us": per_call_us(csv.lookup, numbers),
        "plan_key_us": per_call_us(plan.key, numbers),
        "dict_get_us": per_call_us(table.get, [k or "" for k in keys]),
        "found": found_db / len(numbers),
    }
    engine.dispose()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--lookups", type=int, default=5_000)
    parser.add_argument("--database-url", default="", help="default: SQLite in the temp folder")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, json.loads(sys.stdin.read()))
        return 0
    if slapd_binary() is None:
        print("slapd is not installed (apt-get install slapd ldap-utils)", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="bench-directory-"))
    server = Slapd(folder / "slapd", make_tls(folder / "tls"), page_limit=1000)
    started = time.perf_counter()
    server.load(user_ldif(args.users, **SPEC))
    print(f"slapadd of {args.users:,} users: {time.perf_counter() - started:.1f} s", flush=True)
    server.start()
    try:
        def sqlite(name: str) -> str:
            return f"sqlite:///{folder / name}"

        main_db = args.database_url or sqlite("timed.db")  # must be empty: the timed run is a first full sync
        timed = run_child("sync", env_of(settings_for(server, main_db, args.page_size)))
        # memory is Python's: measured on SQLite whatever --database-url says
        traced = run_child("sync-traced", env_of(settings_for(server, sqlite("traced.db"), args.page_size)))
        held = run_child("hold-all", env_of(settings_for(server, sqlite("held.db"), args.page_size)))
        settings = settings_for(server, main_db, args.page_size)
        rng = random.Random(11)
        with server.admin() as admin:
            for i in rng.sample(range(args.users), 100):
                admin.modify(user_spec(i, **SPEC).dn,  # type: ignore[arg-type]
                             {"displayName": [("MODIFY_REPLACE", [f"Changed {i}"])]})
        incremental = run_child("sync", env_of(settings), full=False)
        lookups = measure_lookups(settings, args.users, args.lookups, folder)
    finally:
        server.stop()
    s = timed["summary"]
    mb = 1_000_000
    print(f"\nDirectory benchmark - {args.users:,} users, page size {args.page_size}, "
          f"{'SQLite' if not args.database_url else args.database_url.split(':')[0]}, "
          f"Python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"full sync        {timed['seconds']:8.1f} s  {s['fetched'] / timed['seconds']:8,.0f} users/s  "
          f"({s['added']:,} added, {timed['pages']} pages of <= {timed['max_page']})")
    print(f"  peak memory    {traced['tracemalloc_peak'] / mb:8.1f} MB tracemalloc, "
          f"+{timed['rss_growth'] / mb:.1f} MB RSS high-water over the idle child")
    print(f"  baseline       {held['tracemalloc_peak'] / mb:8.1f} MB tracemalloc holding all {held['entries']:,} "
          f"entries at once (ratio {held['tracemalloc_peak'] / max(traced['tracemalloc_peak'], 1):.0f}x)")
    i = incremental["summary"]
    print(f"incremental sync {incremental['seconds']:8.1f} s  ({i['changed']} changed of {i['fetched']} fetched, "
          f"id-only pass over {args.users:,})")
    print(f"lookup           {lookups['db_lookup_us']:8.1f} us/call  DbDirectory (plan + indexed query), "
          f"{lookups['found']:.0%} found")
    print(f"  baselines      {lookups['csv_lookup_us']:8.1f} us/call  CsvDirectory (same plan, in-memory dict); "
          f"{lookups['plan_key_us']:.1f} us the plan alone; {lookups['dict_get_us']:.2f} us a plain dict.get")
    print(f"  ratio          {lookups['db_lookup_us'] / lookups['csv_lookup_us']:8.1f}x the CSV directory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
