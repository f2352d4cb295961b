"""The lock files: what `make run`, `make test`, CI and the Dockerfile install.

requirements/runtime.txt holds what running needs, requirements/dev.txt that plus the
test and lint toolchain; both are written by `make lock` from pyproject.toml. These tests
fail when pyproject.toml asks for something the lock does not pin (or pins outside the
range), when the two files disagree, when a pin lacks its hashes, and when this
environment was not installed from them.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.deploy.support import ROOT

RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
DEV_LOCK = ROOT / "requirements" / "dev.txt"


@dataclass(frozen=True)
class Pin:
    name: str
    version: Version
    marker: Marker | None
    hashes: int


def pins(path: str | object) -> dict[str, Pin]:
    """Name -> pin of a `uv pip compile --generate-hashes` file."""
    text = re.sub(r"\\\n", " ", (ROOT / str(path)).read_text(encoding="utf-8"))
    found: dict[str, Pin] = {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        spec, *options = line.split(" --hash=")
        requirement = Requirement(spec.strip())
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{path}: {spec} is not an exact pin"
        name = canonicalize_name(requirement.name)
        found[name] = Pin(name, Version(specifier.version), requirement.marker, len(options))
    return found


def declared(extra: str | None = None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    listed = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return [Requirement(item) for item in listed]


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        (RUNTIME_LOCK, declared()),
        (DEV_LOCK, declared() + declared("dev")),
    ],
    ids=["runtime", "dev"],
)
def test_every_declared_dependency_is_pinned_within_its_range(
    lock: object, requirements: list[Requirement]
) -> None:
    locked = pins(lock)
    for requirement in requirements:
        pin = locked.get(canonicalize_name(requirement.name))
        assert pin is not None, f"{requirement} is not in {lock}: run make lock"
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"{lock} pins {pin.name}=={pin.version}, outside {requirement}: run make lock"
        )


def test_every_pin_carries_hashes() -> None:
    for lock in (RUNTIME_LOCK, DEV_LOCK):
        for pin in pins(lock).values():
            assert pin.hashes >= 1, f"{lock}: {pin.name} has no --hash"


def test_the_development_lock_keeps_every_runtime_pin() -> None:
    """So a test run exercises exactly the versions a deployment runs."""
    runtime, dev = pins(RUNTIME_LOCK), pins(DEV_LOCK)
    for name, pin in runtime.items():
        assert name in dev, f"{name} is in runtime.txt but not dev.txt: run make lock"
        assert dev[name].version == pin.version, (
            f"{name}: runtime.txt {pin.version}, dev.txt {dev[name].version}: run make lock"
        )


def test_running_does_not_install_the_toolchain() -> None:
    runtime = pins(RUNTIME_LOCK)
    for tool in ("grpcio-tools", "pytest", "playwright", "schemathesis", "mypy", "ruff"):
        assert tool not in runtime, f"{tool} is a development tool, not a runtime dependency"


def test_this_environment_was_installed_from_the_lock() -> None:
    """Every pin that applies here is installed at its locked version (make venv
    installs from the lock; a stale .venv made otherwise fails here)."""
    wrong = []
    for pin in pins(DEV_LOCK).values():
        if pin.marker is not None and not pin.marker.evaluate({"extra": ""}):
            continue
        try:
            installed = Version(metadata.version(pin.name))
        except metadata.PackageNotFoundError:
            wrong.append(f"{pin.name} missing")
            continue
        if installed != pin.version:
            wrong.append(f"{pin.name} {installed} (locked {pin.version})")
    assert not wrong, "not installed from requirements/dev.txt: " + ", ".join(wrong)


def test_make_run_installs_only_the_runtime_lock() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run: \$\(RUN_STAMP\)\s*$", makefile, re.M), "make run needs more"
    assert re.search(r"^RUNTIME_LOCK := requirements/runtime.txt$", makefile, re.M)
    assert re.search(r"^\$\(STAMP\): \$\(DEV_LOCK\)", makefile, re.M)


def test_the_image_installs_the_runtime_lock_with_hashes() -> None:
    dockerfile = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    assert "COPY requirements/runtime.txt" in dockerfile
    assert re.search(r"pip install --no-deps --require-hashes -r runtime.txt", dockerfile)
    assert "COPY pyproject.toml" not in dockerfile, "the image resolves nothing at build time"
