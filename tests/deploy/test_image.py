"""The Dockerfile: one image, multi-stage, non-root, read-only-root friendly, and a
build context (.dockerignore) that keeps what it copies."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from tests.deploy.support import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def stages() -> dict[str, list[str]]:
    """Stage name -> its instructions (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    result: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        match = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE)
        if match:
            current = result.setdefault(match[1].lower(), [])
        elif line and not line.startswith("#"):
            current.append(line)
    return result


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_multi_stage_with_a_runtime_stage_last() -> None:
    names = list(stages())
    assert names[0] == "builder"
    assert names[-1] == "runtime"
    runtime = "\n".join(stages()["runtime"])
    assert "apt-get install" not in runtime, "build tools belong in the builder stage"
    assert "COPY --from=builder /opt/venv /opt/venv" in runtime


def test_runtime_runs_as_a_numeric_non_root_user() -> None:
    users = [line.split()[1] for line in stages()["runtime"] if line.startswith("USER ")]
    assert users, "no USER in the runtime stage"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0, users[-1]
    assert not gid or (gid.isdigit() and int(gid) > 0), users[-1]


def test_runtime_writes_no_bytecode_and_listens_on_all_interfaces() -> None:
    env = " ".join(line for line in stages()["runtime"] if line.startswith("ENV "))
    for setting in (
        "PYTHONDONTWRITEBYTECODE=1",
        "OAUTH2_GRPC_HOST=0.0.0.0",
        "OAUTH2_HOST=0.0.0.0",
        "HOME=/tmp",
    ):
        assert setting in env, setting
    assert re.search(r"OAUTH2_DATA_DIR=/tmp\b", env), "the embedded default writes to /tmp"


def test_what_the_builder_copies_exists_and_is_in_the_build_context() -> None:
    ignored = dockerignore()
    for line in stages()["builder"]:
        if not line.startswith("COPY ") or "--from=" in line:
            continue
        *sources, _destination = line.split()[1:]
        for source in sources:
            path = source.rstrip("/")
            assert (ROOT / path).exists(), f"COPY {source}: no such path"
            assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), (
                f"COPY {source}: excluded by .dockerignore"
            )


def test_what_the_image_leaves_out_is_not_imported_at_run_time() -> None:
    """grpcio-tools is not installed in the image; no runtime module may import it."""
    for package in ("common", "gateway", "services", "oauth2ctl"):
        for path in (ROOT / package).rglob("*.py"):
            if "tests" in path.relative_to(ROOT).parts:
                continue
            source = path.read_text(encoding="utf-8")
            assert not re.search(r"^\s*(from|import)\s+grpc_tools\b", source, re.M), (
                f"{path.relative_to(ROOT)} imports grpc_tools"
            )


def test_excluded_from_the_context() -> None:
    ignored = set(dockerignore())
    for path in (".git", ".venv", "var", "**/tests", ".env"):
        assert path in ignored, path
    assert Path(ROOT / ".dockerignore").is_file()
