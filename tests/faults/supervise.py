"""A service manager in miniature: what deploy/systemd/voicemail-worker.service does with Restart=on-failure
(RestartSec shortened). A scenario that runs its workers under it counts how often one had to be restarted:
Celery's Redis transport can end the worker with "Unrecoverable error" when the broker dies under it."""

from __future__ import annotations

import subprocess
import threading

from tests.integration.pipeline.harness import Site


class Supervised:
    def __init__(self, site: Site, *args: str, log: str, restart_after: float = 1.0, **env: str) -> None:
        self._site, self._args, self._log, self._env = site, args, log, env
        self._restart_after = restart_after
        self.restarts = 0
        self._stop = threading.Event()
        self.proc: subprocess.Popen[bytes] = site.spawn(*args, log=log, **env)
        self._thread = threading.Thread(target=self._watch, daemon=True, name=f"supervise-{log}")
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            code = self.proc.poll()
            if code is None or code == 0 or self._stop.is_set():
                continue  # running, or ended on purpose (SIGTERM from stop_all ends with 0)
            if self._stop.wait(self._restart_after):
                return
            self.restarts += 1
            self.proc = self._site.spawn(*self._args, log=self._log, **self._env)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
