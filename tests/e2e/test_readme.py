"""The README's commands run as written, against a system started as `make run` starts it.

Every fenced block the README marks ```` ```sh ```` is runnable: it is run as it stands,
each block in a shell of its own (``bash -euo pipefail``, from the checkout, as a reader
in a second terminal would), so a block sets the variables it uses itself. Blocks fenced
without ``sh`` are commands that are not run here (``make test`` itself, ``make run``,
deployment commands). The one liberty taken: the system listens on free ports, so the
default addresses ``127.0.0.1:8080`` and ``127.0.0.1:8081`` in a block are replaced by
them, and the shell's ``OAUTH2_*`` settings point oauth2ctl at this system's data
directory (where `make run` writes its credentials file), exactly as `make run` does.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, RunningSystem, base_env, start_system

README = ROOT / "README.md"
RUNNABLE = re.compile(r"^```sh\n(.*?)^```$", re.M | re.S)
DEFAULT_PUBLIC = "127.0.0.1:8080"
DEFAULT_ADMIN = "127.0.0.1:8081"


#: Minutes of the suite's time: make test-slow (and CI) runs it, make test does not.
pytestmark = pytest.mark.slow


def runnable_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, body) of every ```sh block."""
    return [(text[: match.start()].count("\n") + 1, match[1]) for match in RUNNABLE.finditer(text)]


@pytest.fixture(scope="module")
def readme_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    """The embedded default, mutual TLS between the processes, bootstrapped: what
    `make run` starts on a fresh checkout."""
    data_dir = tmp_path_factory.mktemp("readme")
    running = start_system(base_env(data_dir), data_dir, "embedded")
    yield running
    running.system.stop_all()


def run_block(running: RunningSystem, body: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    public = running.base_url.removeprefix("http://")
    admin = running.admin_url.removeprefix("http://")
    script = body.replace(DEFAULT_PUBLIC, public).replace(DEFAULT_ADMIN, admin)
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env={**running.system.common_env(), "HOME": str(tmp)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_readme_marks_its_runnable_commands() -> None:
    blocks = runnable_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 4, "the README's runnable commands are fenced as ```sh"
    text = "\n".join(body for _, body in blocks)
    for command in ("oauth2ctl client create", "/oauth/token", "/oauth/introspect"):
        assert command in text, f"no runnable README block runs {command}"


def test_every_runnable_readme_block_runs(readme_system: RunningSystem, tmp_path: Path) -> None:
    failures = []
    for line, body in runnable_blocks(README.read_text(encoding="utf-8")):
        result = run_block(readme_system, body, tmp_path)
        if result.returncode != 0:
            failures.append(
                f"README.md line {line}: exit {result.returncode}\n{body}\n"
                f"--- stdout\n{result.stdout[-2000:]}\n--- stderr\n{result.stderr[-2000:]}"
            )
    assert not failures, "\n\n".join(failures)
