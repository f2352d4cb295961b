"""Owner-only data files, and text log lines no client input can forge."""

from __future__ import annotations

import logging
import os
import stat
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from common.db import create_engine
from common.files import private_directory, private_file
from common.logs import TextFormatter, escape_controls
from common.settings import CommonSettings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_directory_and_file(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)  # noqa: S103 - the loose mode under test
    assert mode(private_directory(loose)) == 0o700
    nested = private_directory(tmp_path / "a" / "b")
    assert mode(nested) == 0o700
    existing = loose / "old.db"
    existing.write_text("kept")
    os.chmod(existing, 0o644)
    assert mode(private_file(existing)) == 0o600
    assert existing.read_text() == "kept"  # restricted, never truncated
    assert mode(private_file(loose / "new.db")) == 0o600


async def test_sqlite_files_and_the_data_dir_are_owner_only(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        data_dir = tmp_path / "var"
        settings = CommonSettings(data_dir=data_dir, database_url=None)
        engine = create_engine(settings, url=f"sqlite+aiosqlite:///{data_dir / 'token.db'}")
        try:
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE t (x INTEGER)"))
                await conn.execute(text("INSERT INTO t VALUES (1)"))
        finally:
            await engine.dispose()
    finally:
        os.umask(old_umask)
    assert mode(data_dir) == 0o700
    files = sorted(data_dir.iterdir())
    assert data_dir / "token.db" in files
    for path in files:  # token.db and, in WAL mode, its -wal and -shm files
        assert mode(path) == 0o600, path


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("alice\n2026-12-01 INFO gateway admin signed in", "alice\\n2026-12-01 INFO gateway admin"),
        ("\x1b[2J\x1b[1;1H", "\\x1b[2J\\x1b[1;1H"),
        ("tab\there\rcr", "tab\\there\\rcr"),
        ("\x00\x7f\x9b", "\\x00\\x7f\\x9b"),
        ("line\u2028sep", "line\\u2028sep"),
        ("naïve café ✓", "naïve café ✓"),
    ],
)
def test_control_characters_are_escaped(raw: str, escaped: str) -> None:
    assert escaped in escape_controls(raw)
    assert not any(ord(c) < 0x20 for c in escape_controls(raw))


def test_a_text_log_record_is_one_line_whatever_it_quotes() -> None:
    formatter = TextFormatter("gateway")
    record = logging.LogRecord(
        "gateway.access", logging.INFO, __file__, 1, "POST %s %s", ("/login\nFAKE", "x\x1b"), None
    )
    line = formatter.format(record)
    assert "\n" not in line and "\x1b" not in line
    assert line.endswith("gateway POST /login\\nFAKE x\\x1b")
    try:
        raise ValueError("bad\ninput")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    lines = formatter.format(record).splitlines()
    assert lines[0].endswith("gateway failed")
    # The traceback's lines are indented: none can pass for a record.
    assert all(line.startswith("    ") for line in lines[1:])
    assert any("bad\\ninput" in line for line in lines[1:])
