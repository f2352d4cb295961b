"""The documentation speaks for itself: no ticket numbers ("issue 9", "#12") in the
Markdown files or the code's docstrings and comments, which outlive the tracker."""

from __future__ import annotations

import re
from pathlib import Path

from tests.deploy.support import ROOT

TICKET = re.compile(r"\b(?:issue|ticket|bug)\s*#?\d+\b|(?<![\w&/#])#\d{1,4}\b(?![\w-])", re.I)
SKIPPED_PARTS = {".venv", ".git", "node_modules", "var", "requirements"}


def files(*patterns: str) -> list[Path]:
    found = []
    for pattern in patterns:
        for path in ROOT.rglob(pattern):
            if not SKIPPED_PARTS.intersection(path.relative_to(ROOT).parts):
                found.append(path)
    return found


def test_no_ticket_numbers_in_docs_or_code() -> None:
    hits = []
    for path in files("*.md", "*.py", "*.toml", "*.yaml", "Makefile", "Dockerfile"):
        if path.name.endswith(("_pb2.py", "_pb2_grpc.py")) or path == Path(__file__):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if TICKET.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not hits, "ticket numbers:\n" + "\n".join(hits)


def test_the_pattern_finds_what_it_is_for() -> None:
    for text in ("(issue 9)", "Issue 11 asks", "see #12", "bug #4"):
        assert TICKET.search(text), text
    for text in ("issued 9 tokens", "color: #fff", "a#1", "RFC 6749 section 4.1"):
        assert not TICKET.search(text), text
