"""Issue 10: the embedded PostgreSQL starts from a checkout under a folder only its owner can enter.

As root (root's home is 0700, and so is any ``mktemp -d``), the venv with the server binaries and the
checkout's ``.data`` sat where the ``postgres`` account could not go: ``make run`` and ``make test``
failed with PermissionError on initdb. Here the binaries and the data folder both live under a 0700
folder, as in such a clone, and the launcher must still start a working server. (For a non-root user the
same setup is simply its own folder, and the test holds just as well.)
"""

from __future__ import annotations

import shutil

import psycopg

from common.embedded_pg import EmbeddedPostgres, find_bin_dir


def test_the_launcher_starts_from_a_clone_under_a_0700_folder(tmp_path):
    locked = tmp_path / "home"
    locked.mkdir(mode=0o700)
    # The clone's own venv, laid out as pip installs the wheel (its RPATH points at the sibling .libs).
    real_install = find_bin_dir().parent
    site = locked / "clone" / ".venv" / "site-packages"
    install = site / real_install.parent.name / real_install.name
    shutil.copytree(real_install, install, symlinks=True, copy_function=_link_or_copy)
    libs = real_install.parent.parent / f"{real_install.parent.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, site / libs.name, symlinks=True, copy_function=_link_or_copy)
    data_dir = locked / "clone" / ".data"
    server = EmbeddedPostgres(data_dir, bin_dir=install / "bin")
    try:
        url = server.start()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert (data_dir / "connection.json").exists(), "the checkout's commands find the server"
    finally:
        server.stop()
        if server.server_dir and server.server_dir != data_dir:
            shutil.rmtree(server.server_dir, ignore_errors=True)
        if server.used_bin_dir and locked not in server.used_bin_dir.parents:  # the reachable copy
            shutil.rmtree(server.used_bin_dir.parents[2], ignore_errors=True)


def _link_or_copy(src: str, dst: str) -> None:
    import os

    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


