"""Every row of every service's tables, to show that bad input changed nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg

from oauth2ctl.devrun import SERVICES

Snapshot = dict[str, list[tuple[str, ...]]]


def snapshot(database_url: str | None, data_dir: Path) -> Snapshot:
    if database_url:
        return asyncio.run(_pg(database_url))
    return _sqlite(data_dir)


def _sqlite(data_dir: Path) -> Snapshot:
    result: Snapshot = {}
    for service in SERVICES:
        path = data_dir / f"{service}.db"
        with sqlite3.connect(path) as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"
                )
            ]
            for table in tables:
                rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608
                result[f"{service}.{table}"] = sorted(tuple(map(str, r)) for r in rows)
        conn.close()
    return result


async def _pg(url: str) -> Snapshot:
    result: Snapshot = {}
    conn = await asyncpg.connect(url)
    try:
        for service in SERVICES:
            tables = await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 "
                "ORDER BY table_name",
                service,
            )
            for record in tables:
                table = record["table_name"]
                rows = await conn.fetch(f'SELECT * FROM "{service}"."{table}"')  # noqa: S608
                result[f"{service}.{table}"] = sorted(tuple(map(str, r.values())) for r in rows)
    finally:
        await conn.close()
    return result


def table_rows(database_url: str | None, data_dir: Path, service: str, table: str) -> list[dict]:
    """The rows of one service's table, as dicts."""
    if database_url:

        async def fetch() -> list[dict]:
            conn = await asyncpg.connect(database_url)
            try:
                rows = await conn.fetch(f'SELECT * FROM "{service}"."{table}"')  # noqa: S608
            finally:
                await conn.close()
            return [dict(r) for r in rows]

        return asyncio.run(fetch())
    conn = sqlite3.connect(data_dir / f"{service}.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(f'SELECT * FROM "{table}"')]  # noqa: S608
    finally:
        conn.close()
