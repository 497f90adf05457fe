"""Tests of temporary_directory and temporary_file: removed however the block ends."""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from python_mastery_portfolio.processes import temporary_directory, temporary_file

LOGGER = "python_mastery_portfolio.processes"


class TestTemporaryDirectory:
    def test_seed_example(self) -> None:
        """The seed's example: a file written in the directory, all gone afterwards."""
        with temporary_directory() as temp_dir:
            file_path = os.path.join(temp_dir, "data.txt")
            with open(file_path, "w") as f:
                f.write("temporary data")
            assert Path(file_path).read_text() == "temporary data"
        assert not os.path.exists(temp_dir)

    def test_private_and_placed(self, tmp_path: Path) -> None:
        """The directory is the owner's only, with the given prefix and parent."""
        with temporary_directory(prefix="job-", parent=tmp_path) as temp_dir:
            assert temp_dir.parent == tmp_path
            assert temp_dir.name.startswith("job-")
            assert stat.S_IMODE(temp_dir.stat().st_mode) == 0o700

    def test_removed_when_the_block_raises(self) -> None:
        """An exception in the block still removes the directory, and propagates."""
        with pytest.raises(RuntimeError, match="boom"), temporary_directory() as temp_dir:
            (temp_dir / "sub").mkdir()
            (temp_dir / "sub" / "file").write_text("x")
            raise RuntimeError("boom")
        assert not temp_dir.exists()

    def test_block_may_remove_it(self) -> None:
        """A directory the block already removed is fine."""
        with temporary_directory() as temp_dir:
            temp_dir.rmdir()
        assert not temp_dir.exists()

    def test_read_only_tree_is_opened_and_removed(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A permission error opens the directories (never a link's target) and retries."""
        outside = tmp_path / "outside"
        outside.mkdir(mode=0o500)
        real_rmtree = shutil.rmtree
        calls: list[Any] = []

        def rmtree_refusing_once(path: Any, *args: Any, **kwargs: Any) -> None:
            calls.append(path)
            if len(calls) == 1:
                raise PermissionError("read-only")
            real_rmtree(path, *args, **kwargs)

        monkeypatch.setattr(shutil, "rmtree", rmtree_refusing_once)
        with temporary_directory() as temp_dir:
            (temp_dir / "locked").mkdir()
            (temp_dir / "locked" / "file").write_text("x")
            (temp_dir / "link").symlink_to(outside, target_is_directory=True)
            (temp_dir / "locked").chmod(0o500)
        assert len(calls) == 2
        assert not temp_dir.exists()
        assert stat.S_IMODE(outside.stat().st_mode) == 0o500  # the link was not followed

    def test_failure_to_remove_is_logged_not_raised(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A directory that cannot be removed is logged at WARNING; the block's error wins."""

        def refuse(path: Any, *args: Any, **kwargs: Any) -> None:
            raise OSError("busy")

        monkeypatch.setattr(shutil, "rmtree", refuse)
        with (
            caplog.at_level(logging.WARNING, LOGGER),
            pytest.raises(KeyError),
            temporary_directory() as temp_dir,
        ):
            raise KeyError("the block's error")
        monkeypatch.undo()
        assert "Could not remove temporary directory" in caplog.text
        assert caplog.records[0].levelno == logging.WARNING
        shutil.rmtree(temp_dir)


class TestTemporaryFile:
    def test_created_closed_and_removed(self, tmp_path: Path) -> None:
        """The file exists (empty, private) in the block, with the suffix, and is removed."""
        with temporary_file(suffix=".json", prefix="cfg-", parent=tmp_path) as path:
            assert path.read_bytes() == b""
            assert (path.parent, path.suffix) == (tmp_path, ".json")
            assert path.name.startswith("cfg-")
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert not path.exists()

    def test_removed_when_the_block_raises(self) -> None:
        """An exception in the block still removes the file."""
        with pytest.raises(ValueError, match="bad"), temporary_file() as path:
            path.write_text("partial")
            raise ValueError("bad")
        assert not path.exists()

    def test_keep(self) -> None:
        """keep=True is the seed's NamedTemporaryFile(delete=False): the file stays."""
        with temporary_file(suffix=".txt", keep=True) as path:
            path.write_text("handed on")
        try:
            assert path.read_text() == "handed on"
        finally:
            path.unlink()

    def test_block_may_remove_it(self) -> None:
        """A file the block already removed is fine."""
        with temporary_file() as path:
            path.unlink()
        assert not path.exists()

    def test_failure_to_remove_is_logged_not_raised(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A file that cannot be removed is logged at WARNING."""

        def refuse(self: Path, missing_ok: bool = False) -> None:
            raise PermissionError("in use")

        with caplog.at_level(logging.WARNING, LOGGER), temporary_file() as path:
            monkeypatch.setattr(Path, "unlink", refuse)
        monkeypatch.undo()
        assert "Could not remove temporary file" in caplog.text
        path.unlink()
