"""A real PgBouncer in transaction mode in front of the test PostgreSQL (Debian's ``pgbouncer``).

Started by the tests on a free TCP port (no unix socket). PgBouncer refuses to run as root, so as root
it runs as the account the embedded PostgreSQL uses (``postgres``, else ``nobody``), with every file it
reads in a directory that account owns. ``auth_type = trust`` still needs the user in ``auth_file``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from common.embedded_pg import _server_account, _set_parent_death_signal
from common.errors import ConfigError
from tests.support.processes import free_port, wait_for

INSTALL_HINT = "run .ci/setup.d/pgbouncer.sh or apt-get install pgbouncer"


def find_pgbouncer() -> str | None:
    return shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None)


@dataclass
class PgBouncer:
    """One pgbouncer process forwarding every database name to ``upstream_url``'s server."""

    upstream_url: str
    pool_mode: str = "transaction"
    port: int = field(default_factory=free_port)
    work_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="rg-pgbouncer-")))
    process: subprocess.Popen[bytes] | None = None

    def url_for(self, direct_url: str) -> str:
        """``direct_url`` (same user and database) through this pooler, with ``pool_mode`` for our code."""
        parts = urlsplit(direct_url)
        user = parts.username or "postgres"
        query = "&".join(q for q in (parts.query, f"pool_mode={self.pool_mode}") if q)
        return urlunsplit(parts._replace(netloc=f"{user}@127.0.0.1:{self.port}", query=query))

    @property
    def log_path(self) -> Path:
        return self.work_dir / "pgbouncer.log"

    def start(self) -> PgBouncer:
        binary = find_pgbouncer()
        if binary is None:
            raise ConfigError(f"pgbouncer is not installed ({INSTALL_HINT})")
        upstream = urlsplit(self.upstream_url)
        user = upstream.username or "postgres"
        ini = self.work_dir / "pgbouncer.ini"
        (self.work_dir / "users.txt").write_text(f'"{user}" ""\n')
        ini.write_text("\n".join([
            "[databases]",
            f"* = host={upstream.hostname} port={upstream.port or 5432}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {self.work_dir / 'users.txt'}",
            f"pool_mode = {self.pool_mode}",
            # Few server connections for many clients: the point of a transaction pooler, and what makes
            # a statement land on another server connection than the one before.
            "default_pool_size = 10",
            "max_client_conn = 1000",
            "server_reset_query =",
            "ignore_startup_parameters = extra_float_digits,options",
            f"logfile = {self.log_path}",
            f"pidfile = {self.work_dir / 'pgbouncer.pid'}",
            "",
        ]))
        account = _server_account()
        if account is not None:
            for path in (self.work_dir, *self.work_dir.iterdir()):
                os.chown(path, account.pw_uid, account.pw_gid)
        self.process = subprocess.Popen(
            [binary, str(ini)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            user=account.pw_uid if account else None, group=account.pw_gid if account else None,
            preexec_fn=_set_parent_death_signal, start_new_session=True)
        wait_for(self._accepting, timeout=15, message=f"pgbouncer on port {self.port}; log: {self.log_path}")
        return self

    def _accepting(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"pgbouncer exited with {self.process.returncode}: {self.log()}")
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.5).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # immediate shutdown; the tests are done with it
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""
