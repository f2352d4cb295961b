"""Every process imports every settings module (the strict configuration check):
those imports stay light, and the lazy re-exports still give every name."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from common.settings import SETTINGS_CLASSES

#: What a service imports to serve, not to read its settings (hundreds of ms each).
HEAVY = (
    "sqlalchemy",
    "redis",
    "opentelemetry.sdk",
    "services.authorize.domain.login",
    "services.clients.domain.registry",
)


def test_the_settings_modules_import_no_domain_package_nor_heavy_library() -> None:
    modules = sorted({path.partition(":")[0] for path in SETTINGS_CLASSES.values()})
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", script])))
    assert [name for name in HEAVY if name in loaded] == []


@pytest.mark.parametrize("package", ["services.clients.domain", "services.authorize.domain"])
def test_every_re_exported_name_is_there(package: str) -> None:
    module = __import__(package, fromlist=["__all__"])
    values = {name: getattr(module, name) for name in module.__all__}
    assert all(value is not None for value in values.values())
    assert getattr(module, "SignIn" if "authorize" in package else "ClientRegistry") in (
        values.values()
    )
    with pytest.raises(ImportError):
        exec(f"from {package} import NoSuchName", {})  # noqa: S102
