"""The Lambda asset, built by the local bundling code path: its contents, and that the handler imports from it."""

from __future__ import annotations

import glob
import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import DockerImage
from aws_cdk import aws_lambda as lambda_
from stack_support import REPO_ROOT

from infra.bundling import (
    REQUIREMENTS,
    SOURCE_PACKAGE,
    WHEEL_PLATFORMS,
    LocalBundling,
    asset_hash,
    bundled_requirements,
    python_version,
    wheel_platform,
)
from infra.components.remediator_function import ARCHITECTURE, RUNTIME
from infra.settings import Settings
from remediator.permissions import PERMISSIONS

RUNTIME_PYTHON = python_version(RUNTIME)
HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
# The AWS SDK the asset relies on the runtime for (infra.bundling.RUNTIME_PROVIDED), at a version released
# months before Python 3.14 itself, so older than any a python3.14 runtime ships: if the handler imports and
# every call it makes exists with this one, it does with the runtime's.
RUNTIME_SDK_FLOOR = ["boto3==1.38.0", "botocore>=1.38.0,<1.39"]
HOST_ARCHITECTURES = {"x86_64": lambda_.Architecture.X86_64.name, "aarch64": lambda_.Architecture.ARM_64.name}
FORBIDDEN = ("aws_cdk", "tests", "infra", "boto3", "botocore", "jsii", "cdk_nag", "constructs")

# Run with `python -I -S`: no site-packages, no PYTHONPATH, no current directory; the asset and the SDK
# directory are put on sys.path as Lambda puts /var/task and /var/runtime.
IMPORT_CHECK = """
import importlib, json, sys, sysconfig
asset, sdk, operations = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path[:0] = [asset, sdk]
handler = importlib.import_module("remediator.handler")
assert callable(handler.handler), "remediator.handler.handler is not callable"
import boto3, botocore.session, pydantic
stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
strays = sorted(
    {m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)
     and not m.__file__.startswith((asset, sdk, *stdlib))}
)
session = botocore.session.get_session()
missing = [f"{service}:{name}" for name, service in operations.items()
           if name not in session.get_service_model(service).operation_names]
cli = sorted(name for name in sys.modules if name == "remediator.cli" or name.startswith("remediator.cli."))
print(json.dumps({"pydantic": pydantic.__file__, "boto3": boto3.__version__, "strays": strays,
                  "missing": missing, "cli": cli}))
"""


def host_platform() -> str:
    if sys.platform != "linux" or platform.machine() not in HOST_ARCHITECTURES:
        pytest.skip(f"no manylinux wheel platform for this host ({sys.platform} {platform.machine()})")
    return WHEEL_PLATFORMS[HOST_ARCHITECTURES[platform.machine()]]


def bundle(output: Path, *, wheel_platform: str, python: str) -> Path:
    """The asset as the stack's local bundling builds it, for the given platform and Python."""
    bundling = LocalBundling(platform=wheel_platform, python=python, source=SOURCE_PACKAGE, requirements=REQUIREMENTS)
    assert bundling.try_bundle(str(output), image=DockerImage.from_registry("unused-local-bundling-succeeds"))
    return output


def sdk_like_the_runtime(output: Path, *, python: str) -> Path:
    """The SDK as the runtime provides it: only boto3 and its dependencies, pure-Python wheels."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--only-binary=:all:",
         "--python-version", python, "--target", str(output), *RUNTIME_SDK_FLOOR],
        check=True,
    )  # fmt: skip
    return output


def interpreter(version: str) -> str | None:
    """An interpreter of `version` on PATH or among pyenv's versions, if one is installed and runs."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(
        glob.glob(str(Path.home() / ".pyenv" / "versions" / f"{version}*" / "bin" / f"python{version}"))
    )
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def import_handler(python: str, asset: Path, sdk: Path) -> dict[str, object]:
    operations = {name: p.action.split(":", 1)[0] for name, p in PERMISSIONS.items()}
    # The environment the stack gives the function, and a region as Lambda sets one; no credentials.
    environment = Settings().lambda_environment(
        topic_arn="arn:aws:sns:us-east-1:123456789012:sg-remediator", state_table="sg-remediator-state"
    )
    environment |= {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    result = subprocess.run(
        [python, "-I", "-S", "-c", IMPORT_CHECK, str(asset), str(sdk), json.dumps(operations)],
        capture_output=True, text=True, check=False, cwd=asset, env=environment,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return report


def assert_contents(asset: Path) -> None:
    top = {path.name for path in asset.iterdir()}
    assert "remediator" in top
    assert not {name for name in top if name.split("-")[0] in FORBIDDEN}, top
    assert not list(asset.rglob("__pycache__")), "byte code of the build host"
    shipped = {p.relative_to(asset / "remediator") for p in (asset / "remediator").rglob("*") if p.is_file()}
    source = {
        p.relative_to(SOURCE_PACKAGE)
        for p in SOURCE_PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    command_line = {path for path in source if path.parts[0] == "cli"}
    assert command_line, "the test must see the command line it expects to be left out"
    assert shipped == source - command_line
    assert not (asset / "remediator" / "cli").exists(), "the command line is not part of the Lambda"
    assert (asset / "remediator" / "handler.py").is_file(), "the handler module is missing"


@pytest.fixture(scope="session")
def lambda_asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bundle(
        tmp_path_factory.mktemp("asset-lambda"), wheel_platform=wheel_platform(ARCHITECTURE), python=RUNTIME_PYTHON
    )


def test_lambda_asset_is_remediator_and_wheels_for_the_lambda_platform(lambda_asset: Path) -> None:
    assert_contents(lambda_asset)
    (extension,) = (lambda_asset / "pydantic_core").glob("_pydantic_core.*.so")
    assert f"cpython-{RUNTIME_PYTHON.replace('.', '')}-aarch64-linux-gnu" in extension.name
    size = sum(path.stat().st_size for path in lambda_asset.rglob("*") if path.is_file())
    assert size < 20 * 2**20, f"{size / 2**20:.1f} MiB unpacked"


def test_handler_imports_from_the_asset_with_the_host_python(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Weaker than the runtime's Python below (3.11, the host's platform), but it runs everywhere.
    wheels = host_platform()
    asset = bundle(tmp_path_factory.mktemp("asset-host"), wheel_platform=wheels, python=HOST_PYTHON)
    assert_contents(asset)
    sdk = sdk_like_the_runtime(tmp_path_factory.mktemp("sdk-host"), python=HOST_PYTHON)
    report = import_handler(sys.executable, asset, sdk)
    assert str(report["pydantic"]).startswith(str(asset))
    assert report["strays"] == []
    assert report["missing"] == [], "calls the runtime's SDK may not have"
    assert report["cli"] == [], "importing the handler loads no command-line module"


def test_handler_imports_from_the_asset_with_the_runtime_python(tmp_path_factory: pytest.TempPathFactory) -> None:
    wheels = host_platform()
    python = interpreter(RUNTIME_PYTHON)
    if python is None:
        pytest.skip(f"no python{RUNTIME_PYTHON} (the Lambda runtime's version) on PATH or in ~/.pyenv/versions")
    asset = bundle(tmp_path_factory.mktemp("asset-runtime"), wheel_platform=wheels, python=RUNTIME_PYTHON)
    sdk = sdk_like_the_runtime(tmp_path_factory.mktemp("sdk-runtime"), python=RUNTIME_PYTHON)
    report = import_handler(python, asset, sdk)
    assert report["strays"] == []
    assert report["missing"] == []


def test_requirements_without_the_runtime_sdk() -> None:
    text = "# deps\nboto3==1.44.8\nBotocore>=1\npydantic==2.14.4  # models\nboto3-stubs[ec2]==1\n\n"
    assert bundled_requirements(text) == ["pydantic==2.14.4", "boto3-stubs[ec2]==1"]
    assert "pydantic" in " ".join(bundled_requirements((REPO_ROOT / "requirements.txt").read_text()))


def test_asset_hash_follows_source_requirements_and_target(tmp_path: Path) -> None:
    source = tmp_path / "remediator"
    source.mkdir()
    (source / "handler.py").write_text("x = 1\n")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pydantic\n")

    def digest(**target: str) -> str:
        options = {"platform": "manylinux2014_aarch64", "python": "3.14", **target}
        return asset_hash(source=source, requirements=requirements, **options)

    first = digest()
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"\0")
    assert digest() == first
    assert digest(platform="manylinux2014_x86_64") != first
    assert digest(python="3.13") != first
    (source / "handler.py").write_text("x = 2\n")
    second = digest()
    assert second != first
    requirements.write_text("pydantic==2\n")
    assert digest() != second
