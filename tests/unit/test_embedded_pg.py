"""The embedded server's launcher refuses, with one clear line, a data folder its account cannot reach."""

from __future__ import annotations

import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from common.embedded_pg import _check_reachable
from common.errors import ConfigError

NOBODY = pwd.getpwnam("nobody")  # as root, the server runs as another account such as this one


def test_a_folder_the_server_account_cannot_enter_is_named(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    with pytest.raises(ConfigError, match=r"cannot enter .*locked \(mode 700\).*REPORTGEN_DATA_DIR"):
        _check_reachable(locked / "data", NOBODY)


def test_a_world_searchable_path_is_accepted():
    folder = Path(tempfile.mkdtemp(prefix="rg-open-"))  # under /tmp, which everyone may enter
    folder.chmod(0o755)
    try:
        _check_reachable(folder / "data", NOBODY)  # raises if the check were too strict
    finally:
        shutil.rmtree(folder)
