"""Private instances of the outside services, for fault tests that kill or cut them.

Other test runs share this machine's PostgreSQL, Redis and RabbitMQ: those are never stopped. A scenario
that kills a service starts its own here (free ports, data in a temp folder) and kills only that one,
by its process id. ``TcpProxy`` cuts a connection from the outside (every socket reset, new ones
refused) without touching the service behind it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tests.integration.pipeline.harness import free_port, wait_for
from tests.requirements import missing


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class PrivateRedis:
    """redis-server on a free port, no persistence (``--save ""``): a kill loses every queued task."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if shutil.which("redis-server") is None:
            missing("the program redis-server", "apt-get install redis-server")
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "redis.log", "ab")  # noqa: SIM115 (closed with the process)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.root)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: _listening(self.port), 15, "the private redis-server")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        self.kill()


class PrivateRabbit:
    """A RabbitMQ node of its own (node name, AMQP and distribution ports, data and logs in a temp folder,
    no plugins). The Debian wrapper runs the node as the rabbitmq user, so the folder is handed to it."""

    def __init__(self) -> None:
        # not under pytest's tmp_path: that is private to root, and the node runs as the rabbitmq user
        self.root = Path(tempfile.mkdtemp(prefix="vmfault-rabbit-"))
        self.root.chmod(0o755)
        self.port = free_port()
        self.dist_port = free_port()
        self.name = f"vmfault{self.port}@localhost"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> dict[str, str]:
        r = str(self.root)
        return {**os.environ, "RABBITMQ_NODENAME": self.name, "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port), "RABBITMQ_CONFIG_FILE": f"{r}/rabbitmq.conf",
                "RABBITMQ_MNESIA_BASE": f"{r}/mnesia", "RABBITMQ_LOG_BASE": f"{r}/log",
                "RABBITMQ_ENABLED_PLUGINS_FILE": f"{r}/enabled_plugins", "RABBITMQ_PID_FILE": f"{r}/pid",
                "RABBITMQ_FEATURE_FLAGS_FILE": f"{r}/feature_flags", "RABBITMQ_QUORUM_DIR": f"{r}/quorum",
                "RABBITMQ_STREAM_DIR": f"{r}/stream", "RABBITMQ_PLUGINS_EXPAND_DIR": f"{r}/plugins-expand",
                "ERL_CRASH_DUMP": f"{r}/erl_crash.dump"}

    def start(self) -> None:
        if shutil.which("rabbitmq-server") is None:
            missing("the program rabbitmq-server", "apt-get install rabbitmq-server")
        (self.root / "mnesia").mkdir(parents=True, exist_ok=True)
        (self.root / "log").mkdir(exist_ok=True)
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
                                                 "loopback_users = none\n")
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(self.root)], check=True)
        out = open(self.root / "server.out", "ab")  # noqa: SIM115 (closed with the process)
        self.proc = subprocess.Popen(["rabbitmq-server"], env=self._env(), stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_for(lambda: _listening(self.port), 60, "the private RabbitMQ node")

    def kill(self) -> None:
        """SIGKILL the node (beam.smp, by the pid file it wrote) and its wrapper's process group."""
        pid_file = self.root / "pid"
        if pid_file.exists() and pid_file.read_text().strip().isdigit():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(15)
        wait_for(lambda: not _listening(self.port), 15, "the RabbitMQ node to be gone")

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


class PrivatePostgres:
    """A PostgreSQL cluster of its own (initdb + pg_ctl on a free port, trust auth on 127.0.0.1).
    PostgreSQL refuses to run as root: as root the cluster belongs to the postgres user."""

    def __init__(self) -> None:
        # not under pytest's tmp_path: that is private to root, and the cluster belongs to postgres
        self.root = Path(tempfile.mkdtemp(prefix="vmfault-pg-"))
        self.root.chmod(0o755)
        self.port = free_port()
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not bins:
            missing("PostgreSQL server binaries under /usr/lib/postgresql", "apt-get install postgresql")
        self.bin = bins[-1].parent

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)

    def start(self) -> None:
        data = self.root / "data"
        if not data.exists():
            if os.geteuid() == 0:
                shutil.chown(self.root, "postgres")
            done = self._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
            assert done.returncode == 0, done.stderr
        done = self._run("pg_ctl", "-D", str(data), "-l", str(self.root / "server.log"), "-w", "-o",
                         f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        assert done.returncode == 0, done.stdout + done.stderr

    def kill(self) -> None:
        """SIGKILL the postmaster (a crash: no shutdown checkpoint); its backends exit on their own."""
        pid_file = self.root / "data" / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not _listening(self.port), 15, "PostgreSQL to be gone")

    def stop(self) -> None:
        if (self.root / "data" / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target. ``cut()`` resets every open connection and refuses new ones
    (the peer is unreachable, as when a network link or a service goes away); ``restore()`` ends that."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.2)
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._up = True
        self._stopping = False
        self._thread = threading.Thread(target=self._accept, daemon=True, name="tcp-proxy")
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._up:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._conns.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self._up = False
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            _reset(conn)

    def restore(self) -> None:
        self._up = True

    def close(self) -> None:
        self._stopping = True
        self.cut()
        self._server.close()
        self._thread.join(2)


def _reset(conn: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the peer sees "connection reset", as after a crash."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()


def wait_port_free(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _listening(port):
        time.sleep(0.1)
