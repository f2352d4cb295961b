"""Where oauth2ctl keeps its credentials (an absolute path, whatever the working
directory), ``--output``/``--json`` on every command, ``--version``, and
``bootstrap --recover``. tests/e2e/test_oauth2ctl.py runs the same against a
started system, as a subprocess in the root directory."""

from __future__ import annotations

import argparse
import json
import stat
from importlib import metadata
from pathlib import Path

import pytest

from oauth2ctl.cli import build_parser, leaf_parsers, main
from oauth2ctl.settings import CtlSettings
from oauth2ctl.tests.conftest import Ctl


@pytest.fixture
def elsewhere(ctl: Ctl, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, Path]:
    """A bootstrapped system and a working directory outside any checkout, no data
    directory in the settings, and a configuration directory of its own."""
    cwd = tmp_path / "somewhere"
    cwd.mkdir()
    config = tmp_path / "xdg"
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("OAUTH2_DATA_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return cwd, config


def test_no_data_directory_means_the_user_configuration_directory(
    ctl: Ctl, elsewhere: tuple[Path, Path], tmp_path: Path
) -> None:
    _, config = elsewhere
    ctl.admin.reset()  # a system not bootstrapped yet
    code, out, err = ctl("bootstrap", "--output", "json")
    assert code == 0, err
    path = config / "oauth2ctl" / "credentials.json"
    assert json.loads(out)["credentials_file"] == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    code, out, err = ctl("client", "list", "--output", "json")
    assert code == 0, err
    assert [c["scope"] for c in json.loads(out)] == ["admin"]


def test_home_config_without_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OAUTH2_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".config" / "oauth2ctl" / "credentials.json"
    assert CtlSettings().credentials_file == expected
    # A relative XDG_CONFIG_HOME is ignored, as the XDG specification says.
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative")
    assert CtlSettings().credentials_file == expected


def test_a_data_directory_in_the_settings_is_made_absolute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OAUTH2_CONFIG", raising=False)
    monkeypatch.setenv("OAUTH2_DATA_DIR", "data")
    assert CtlSettings().credentials_file == tmp_path / "data" / "oauth2ctl-credentials.json"
    monkeypatch.delenv("OAUTH2_DATA_DIR")
    config = tmp_path / "oauth2.toml"
    config.write_text('data_dir = "/srv/oauth2"\n')
    monkeypatch.setenv("OAUTH2_CONFIG", str(config))
    assert CtlSettings().credentials_file == Path("/srv/oauth2/oauth2ctl-credentials.json")
    # ctl_credentials_file comes first.
    monkeypatch.setenv("OAUTH2_CTL_CREDENTIALS_FILE", "mine.json")
    assert CtlSettings().credentials_file == tmp_path / "mine.json"


def test_a_checkouts_var_is_the_data_directory_only_when_make_run_used_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OAUTH2_DATA_DIR", raising=False)
    monkeypatch.delenv("OAUTH2_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / "var").mkdir()  # an empty var, like the root directory's /var
    assert CtlSettings().credentials_file == tmp_path / "xdg" / "oauth2ctl" / "credentials.json"
    (tmp_path / "var" / "certs").mkdir()  # what make run leaves there
    assert CtlSettings().credentials_file == tmp_path / "var" / "oauth2ctl-credentials.json"


def test_every_command_takes_output_and_json() -> None:
    parser = build_parser()
    leaves = leaf_parsers(parser)
    assert len(leaves) >= 25
    for leaf in leaves:
        flags = {s for action in leaf._actions for s in action.option_strings}
        assert {"--output", "-o", "--json"} <= flags, leaf.prog
    # Before or after the command; the command's own flag wins over the global one.
    cases = {
        ("stats",): "table",
        ("--output", "json", "stats"): "json",
        ("stats", "--output", "json"): "json",
        ("stats", "--json"): "json",
        ("--json", "stats"): "json",
        ("-o", "json", "stats", "-o", "table"): "table",
    }
    for argv, output in cases.items():
        args: argparse.Namespace = parser.parse_args(list(argv))
        assert args.output == output, argv


def test_json_output_of_commands_that_print_sentences(ctl: Ctl) -> None:
    code, out, err = ctl("-o", "json", "client", "create", "--name", "c1")
    assert code == 0, err
    client_id = json.loads(out)["client_id"]
    code, out, _ = ctl("-o", "json", "client", "disable", client_id)
    assert json.loads(out)["enabled"] is False
    code, out, _ = ctl("-o", "json", "client", "enable", client_id)
    assert json.loads(out)["enabled"] is True
    code, out, _ = ctl("-o", "json", "client", "delete", client_id)
    assert json.loads(out) == {"client_id": client_id, "deleted": True}
    code, out, _ = ctl("-o", "json", "bootstrap", "--if-needed")
    body = json.loads(out)
    assert body["already_bootstrapped"] is True
    assert body["credentials_file"].endswith("oauth2ctl-credentials.json")
    # Table output stays for people.
    code, out, _ = ctl("client", "create", "--name", "c2")
    assert out.startswith("client_id")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from oauth2ctl.devrun import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SystemExit) as exited:
        main(["--url", url, "--version"])
    assert exited.value.code == 0
    version = metadata.version("oauth2-server")
    assert capsys.readouterr().out == (f"oauth2ctl {version}\nadmin API did not answer ({url})\n")
    with pytest.raises(SystemExit):
        main(["--url", url, "--output", "json", "--version"])
    assert json.loads(capsys.readouterr().out) == {
        "oauth2ctl": version,
        "admin_api": None,
        "url": url,
    }


def test_recover_rotates_the_admin_secret(ctl: Ctl, tmp_path: Path) -> None:
    path = tmp_path / "oauth2ctl-credentials.json"
    old = json.loads(path.read_text())
    path.unlink()
    code, out, err = ctl("bootstrap", "--recover", "--json")
    assert code == 0, err
    body = json.loads(out)
    assert (body["client_id"], body["recovered"]) == (old["client_id"], True)
    assert body["client_secret"] != old["client_secret"]
    assert json.loads(path.read_text())["client_secret"] == body["client_secret"]
    method, request = ctl.admin.requests[-1]
    assert method == "Bootstrap" and request.recover and request.actor.id == "cli"
    code, out, err = ctl("audit", "list", "--action", "admin.recovered", "--json")
    assert code == 0, err
    [event] = json.loads(out)
    assert (event["target"], event["outcome"], event["details"]["how"]) == (
        f"client:{old['client_id']}",
        "success",
        "secret_rotated",
    )
    code, out, _ = ctl("bootstrap", "--recover")
    assert "Recovered (audited as admin.recovered)" in out


def test_a_credentials_file_of_ones_choosing(
    ctl: Ctl, elsewhere: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    monkeypatch.setenv("OAUTH2_CTL_CREDENTIALS_FILE", str(shared / "admin.json"))
    ctl.admin.reset()
    code, out, err = ctl("bootstrap", "--json")
    assert code == 0, err
    assert json.loads(out)["credentials_file"] == str(shared / "admin.json")
    assert stat.S_IMODE((shared / "admin.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # the operator's directory, untouched
    code, _, err = ctl("stats")
    assert code == 0, err
