"""The package installs as a command line: `pip install .` into a fresh virtual environment gives `sg-remediator`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from remediator import __version__

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the package installed from the repository, as a user installs it."""
    home = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(home)
    python = home / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(REPO)],
        check=True,
        cwd=home,
    )
    return home


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Outside the repository, so that nothing is imported from the working tree.
    return subprocess.run(
        [home / "bin" / "sg-remediator", *args], capture_output=True, text=True, cwd=home, check=False
    )


def test_the_installed_command_says_its_version(installed: Path) -> None:
    finished = run(installed, "--version")
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == f"sg-remediator {__version__}"


def test_the_installed_command_has_its_subcommands_and_their_help(installed: Path) -> None:
    for command in ("scan", "replay", "demo"):
        finished = run(installed, command, "--help")
        assert finished.returncode == 0, finished.stderr
        assert finished.stdout.startswith(f"usage: sg-remediator {command}")


def test_the_installed_package_holds_its_templates_and_only_runtime_dependencies(installed: Path) -> None:
    probe = (
        "import json, importlib.metadata as m, importlib.resources as r, remediator;"
        "print(json.dumps({'file': remediator.__file__, 'requires': m.requires('sg-remediator'),"
        "'templates': sorted(p.name for p in r.files('remediator.cli').joinpath('templates').iterdir())}))"
    )
    finished = subprocess.run(
        [installed / "bin" / "python", "-c", probe], capture_output=True, text=True, cwd=installed, check=True
    )
    found = json.loads(finished.stdout)
    assert found["file"].startswith(str(installed)), "imported from the install, not the working tree"
    assert sorted(re.split(r"[<>=!~ ;\[]", name)[0] for name in found["requires"]) == [
        "boto3",
        "pydantic",
        "pydantic-core",
    ]
    assert "nuvibit-AuthorizeSecurityGroupIngress-console-tcp0-65535-world-ruleset.json" in found["templates"]


def test_python_dash_m_remediator_still_works_from_the_repository() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "remediator", "--version"], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == f"python -m remediator {__version__}"
