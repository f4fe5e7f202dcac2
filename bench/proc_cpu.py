"""CPU seconds spent by each process of a benchmark, from /proc (user + system time, all threads), and the
PostgreSQL and Redis work behind it: the CPU of the database's own backends, its commits and (when the
server loads pg_stat_statements) its statements, and the Redis server's CPU and commands.

CPU time does not depend much on what else runs on the machine, unlike wall-clock rates, so these figures
can be taken on a shared machine. Linux only (elsewhere every process reads as 0 s).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15 of stat)


def descendants(pid: int) -> list[int]:
    """The process's children, grandchildren, ... (by their parent ids in /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


@dataclass
class Snapshot:
    cpu: dict[str, float] = field(default_factory=dict)  # label -> CPU seconds
    counts: dict[str, float] = field(default_factory=dict)  # label -> a counter (commits, statements, commands)
    statements: dict[str, int] = field(default_factory=dict)  # SQL text -> calls


class Accounting:
    """Snapshots of the CPU of a worker process tree, this process, the database's backends (grouped by the
    ``application_name`` of their connections) and the Redis server, and of the database's commits and
    statements; ``diff`` of two snapshots per message."""

    def __init__(self, db_url: str, redis_url: str, worker_pid: int) -> None:
        self._engine: Engine = create_engine(db_url, isolation_level="AUTOCOMMIT", pool_size=1)
        self._redis = redis.Redis.from_url(redis_url)
        self._worker = worker_pid
        self._statements = self._enable_statements()

    def _enable_statements(self) -> bool:
        try:
            with self._engine.connect() as conn:
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                conn.exec_driver_sql("SELECT count(*) FROM pg_stat_statements")
        except Exception:  # the server does not load it (shared_preload_libraries): commits only
            return False
        return True

    def _worker_processes(self) -> dict[str, float]:
        out = {"worker: main process (consumer)": cpu_seconds(self._worker)}
        pool = descendants(self._worker)
        out["worker: pool processes"] = sum(cpu_seconds(p) for p in pool)
        return out

    def _database(self, snap: Snapshot) -> None:
        with self._engine.connect() as conn:
            db = conn.exec_driver_sql("SELECT current_database()").scalar_one()
            for pid, app in conn.execute(text(
                    "SELECT pid, application_name FROM pg_stat_activity WHERE datname = :db AND pid <> "
                    "pg_backend_pid()"), {"db": db}):
                label = f"postgres backends of {app or 'other connections'}"
                snap.cpu[label] = snap.cpu.get(label, 0.0) + cpu_seconds(pid)
            commits = conn.execute(text("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :db"),
                                   {"db": db}).scalar_one()
            snap.counts["SQL transactions"] = float(commits)
            if self._statements:
                rows = conn.execute(text(
                    "SELECT query, sum(calls) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                    "WHERE d.datname = :db GROUP BY query"), {"db": db}).all()
                snap.statements = {q: int(n) for q, n in rows}
                snap.counts["SQL statements"] = float(sum(snap.statements.values()))

    def _redis_server(self, snap: Snapshot) -> None:
        cpu = self._redis.info("cpu")
        snap.cpu["redis server (whole server)"] = float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
        stats = self._redis.info("commandstats")
        snap.counts["redis commands (whole server)"] = float(sum(int(v["calls"]) for v in stats.values()))

    def snapshot(self, driver: dict[str, float]) -> Snapshot:
        """``driver``: this process's own split of its CPU (label -> seconds; see ``driver_split``)."""
        snap = Snapshot()
        snap.cpu.update(self._worker_processes())
        snap.cpu.update(driver)
        self._database(snap)
        self._redis_server(snap)
        return snap

    def close(self) -> None:
        self._engine.dispose()
        self._redis.close()


def per_message(before: Snapshot, after: Snapshot, messages: int) -> tuple[dict[str, float], dict[str, float]]:
    """(label -> CPU ms per message, label -> count per message) between two snapshots. A database backend
    that was opened after ``before`` counts from zero; one closed before ``after`` is missing."""
    cpu = {k: 1000 * (after.cpu.get(k, 0.0) - before.cpu.get(k, 0.0)) / messages for k in after.cpu}
    counts = {k: (after.counts[k] - before.counts.get(k, 0.0)) / messages for k in after.counts}
    return cpu, counts


def top_statements(before: Snapshot, after: Snapshot, messages: int, limit: int = 15) -> list[tuple[float, str]]:
    """The most frequent SQL statements between two snapshots: (calls per message, statement text)."""
    calls = [((n - before.statements.get(q, 0)) / messages, q) for q, n in after.statements.items()]
    return sorted((c for c in calls if c[0] > 0), reverse=True)[:limit]
