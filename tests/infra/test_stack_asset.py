"""The Lambda asset, built by the local bundling code path: its contents, and that the handler imports from it."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import DockerImage
from aws_cdk import aws_lambda as lambda_
from stack_support import REPO_ROOT

from infra.bundling import (
    COMPILE_BYTE_CODE,
    REQUIREMENTS,
    SOURCE_PACKAGE,
    WHEEL_PLATFORMS,
    LocalBundling,
    _docker_command,
    asset_hash,
    bundled_requirements,
    python_version,
    runtime_interpreter,
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


def bundle(
    output: Path,
    *,
    wheel_platform: str,
    python: str,
    compiler: str | None,
    source: Path = SOURCE_PACKAGE,
    requirements: Path = REQUIREMENTS,
) -> Path:
    """The asset as the stack's local bundling builds it, for the given platform and Python."""
    bundling = LocalBundling(
        platform=wheel_platform, python=python, source=source, requirements=requirements, compiler=compiler
    )
    assert bundling.try_bundle(str(output), image=DockerImage.from_registry("unused-local-bundling-succeeds"))
    return output


def pyc_flags(path: Path) -> int:
    """The flags word of a .pyc's header (PEP 552): 1 is a hash-based .pyc whose source is never checked."""
    return int.from_bytes(path.read_bytes()[4:8], "little")


def assert_byte_code(asset: Path, *, tag: str | None) -> None:
    """Every module has an unchecked hash-based .pyc of Python `tag` (cpython-311), and nothing else is cached;
    with no tag, the asset has no byte code at all."""
    caches = set(asset.rglob("*.pyc"))
    if tag is None:
        assert not caches, "byte code of the build host"
        return
    expected = {path.parent / "__pycache__" / f"{path.stem}.{tag}.pyc" for path in asset.rglob("*.py")}
    assert caches == expected
    assert {pyc_flags(path) for path in caches} == {1}


def sdk_like_the_runtime(output: Path, *, python: str) -> Path:
    """The SDK as the runtime provides it: only boto3 and its dependencies, pure-Python wheels."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--only-binary=:all:",
         "--python-version", python, "--target", str(output), *RUNTIME_SDK_FLOOR],
        check=True,
    )  # fmt: skip
    return output


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
    shipped = {
        p.relative_to(asset / "remediator")
        for p in (asset / "remediator").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
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
        tmp_path_factory.mktemp("asset-lambda"),
        wheel_platform=wheel_platform(ARCHITECTURE),
        python=RUNTIME_PYTHON,
        compiler=runtime_interpreter(RUNTIME_PYTHON),
    )


def test_lambda_asset_is_remediator_and_wheels_for_the_lambda_platform(lambda_asset: Path) -> None:
    assert_contents(lambda_asset)
    # Byte code of the runtime's Python when this host has it, else none (never the host's own).
    compiled = runtime_interpreter(RUNTIME_PYTHON) is not None
    assert_byte_code(lambda_asset, tag=f"cpython-{RUNTIME_PYTHON.replace('.', '')}" if compiled else None)
    (extension,) = (lambda_asset / "pydantic_core").glob("_pydantic_core.*.so")
    assert f"cpython-{RUNTIME_PYTHON.replace('.', '')}-aarch64-linux-gnu" in extension.name
    size = sum(path.stat().st_size for path in lambda_asset.rglob("*") if path.is_file())
    assert size < 20 * 2**20, f"{size / 2**20:.1f} MiB unpacked"


def test_handler_imports_from_the_asset_with_the_host_python(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Weaker than the runtime's Python below (3.11, the host's platform), but it runs everywhere.
    wheels = host_platform()
    asset = bundle(
        tmp_path_factory.mktemp("asset-host"), wheel_platform=wheels, python=HOST_PYTHON, compiler=sys.executable
    )
    assert_contents(asset)
    assert_byte_code(asset, tag=sys.implementation.cache_tag)
    # The byte code is what runs: a source broken after the build is never read (Lambda can't write a cache,
    # so without the .pyc every cold start would compile the source).
    (asset / "remediator" / "log.py").write_text("raise SystemExit('the source was compiled at import')\n")
    sdk = sdk_like_the_runtime(tmp_path_factory.mktemp("sdk-host"), python=HOST_PYTHON)
    report = import_handler(sys.executable, asset, sdk)
    assert str(report["pydantic"]).startswith(str(asset))
    assert report["strays"] == []
    assert report["missing"] == [], "calls the runtime's SDK may not have"
    assert report["cli"] == [], "importing the handler loads no command-line module"


def test_an_asset_built_without_the_runtime_python_has_no_byte_code_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "src" / "remediator"
    source.mkdir(parents=True)
    (source / "handler.py").write_text("x = 1\n")
    requirements = tmp_path / "src" / "requirements.txt"
    requirements.write_text("boto3\n")  # the runtime's: nothing for pip to install
    asset = bundle(
        tmp_path / "asset", wheel_platform="x", python="3.99", compiler=None, source=source, requirements=requirements
    )
    assert (asset / "remediator" / "handler.py").read_text() == "x = 1\n"
    assert_byte_code(asset, tag=None)
    assert "no python3.99 on this host: the asset goes without byte code" in capsys.readouterr().err


def test_no_interpreter_of_a_python_version_this_host_lacks() -> None:
    assert runtime_interpreter("3.99") is None
    found = runtime_interpreter(HOST_PYTHON)
    if found is not None:
        probe = [found, "-c", "import sys; print(sys.version_info[:2])"]
        assert subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip() == str(
            sys.version_info[:2]
        )


def test_the_docker_fallback_compiles_unchecked_byte_code_after_removing_every_cache() -> None:
    command = _docker_command(
        platform="manylinux2014_aarch64", python="3.14", source=SOURCE_PACKAGE, requirements=REQUIREMENTS
    )
    script = command[-1]
    removed = script.index("-name __pycache__ -prune -exec rm -rf")
    compiled = script.index(f"python {' '.join(COMPILE_BYTE_CODE)} /asset-output")
    assert removed < compiled
    assert "--invalidation-mode unchecked-hash" in script


def test_handler_imports_from_the_asset_with_the_runtime_python(tmp_path_factory: pytest.TempPathFactory) -> None:
    wheels = host_platform()
    python = runtime_interpreter(RUNTIME_PYTHON)
    if python is None:
        pytest.skip(f"no python{RUNTIME_PYTHON} (the Lambda runtime's version) on PATH or in ~/.pyenv/versions")
    asset = bundle(
        tmp_path_factory.mktemp("asset-runtime"), wheel_platform=wheels, python=RUNTIME_PYTHON, compiler=python
    )
    assert_byte_code(asset, tag=f"cpython-{RUNTIME_PYTHON.replace('.', '')}")
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

    def digest(*, byte_code: bool = False, **target: str) -> str:
        options = {"platform": "manylinux2014_aarch64", "python": "3.14", **target}
        return asset_hash(source=source, requirements=requirements, byte_code=byte_code, **options)

    first = digest()
    assert digest(byte_code=True) != first
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
