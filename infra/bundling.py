"""The Lambda asset: remediator/ plus its runtime dependencies as wheels for Lambda's platform, built without Docker."""

from __future__ import annotations

import functools
import glob
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE_PACKAGE = REPO_ROOT / "remediator"
REQUIREMENTS = REPO_ROOT / "requirements.txt"

# The wheel platform tag pip must pick for each Lambda architecture (keyed by name: jsii hands out a new
# proxy object on every access of Architecture.ARM_64, so the objects themselves make poor keys).
WHEEL_PLATFORMS: dict[str, str] = {
    lambda_.Architecture.ARM_64.name: "manylinux2014_aarch64",
    lambda_.Architecture.X86_64.name: "manylinux2014_x86_64",
}

# Left out of the asset because every Lambda Python runtime already has them: boto3 and botocore are
# 8x the rest of the asset (~33 of ~40 MB unpacked), and every call the remediator makes
# (remediator/permissions.py) is years older than the SDK of the newest runtime; tests/infra checks that
# the handler imports and those operations exist with an SDK as old as the runtime's.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore"})

_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")

# Byte code made by the runtime's own Python version, checked by nothing but its version: Lambda's file system is
# read-only, so without it every cold start compiles the modules it imports (`make bench` times the cold start
# without it), and an unchecked hash-based .pyc does not depend on the zip keeping file times. A .pyc of another Python
# version is not an error: the interpreter passes over it and compiles the source, as it would with none.
COMPILE_BYTE_CODE = ("-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash")

# The command line (demo, replay, scan) runs on people's machines, never in the Lambda: it stays out of the asset.
LEFT_OUT = ("cli",)


def _ignored(directory: str, names: list[str]) -> set[str]:
    """What copytree leaves out: caches everywhere, and the command line at the package's top level."""
    ignored = set(_IGNORED(directory, names))
    if Path(directory).name == SOURCE_PACKAGE.name:
        ignored.update(name for name in names if name in LEFT_OUT)
    return ignored


_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def wheel_platform(architecture: lambda_.Architecture) -> str:
    """The pip --platform of an architecture, or an error naming the ones this module knows."""
    try:
        return WHEEL_PLATFORMS[architecture.name]
    except KeyError:
        raise ValueError(f"no wheel platform for architecture {architecture.name}: {sorted(WHEEL_PLATFORMS)}") from None


def python_version(runtime: lambda_.Runtime) -> str:
    """The pip --python-version of a Python runtime: python3.14 -> 3.14."""
    if runtime.family != lambda_.RuntimeFamily.PYTHON:
        raise ValueError(f"{runtime.name} is not a Python runtime")
    return runtime.name.removeprefix("python")


# Once a process: every synth of a stack asks, and each candidate found costs a subprocess.
@functools.cache
def runtime_interpreter(python: str) -> str | None:
    """An interpreter of the runtime's Python version on this host (PATH, then pyenv's versions), if one runs."""
    candidates = [shutil.which(f"python{python}")]
    candidates += sorted(glob.glob(str(Path.home() / ".pyenv" / "versions" / f"{python}*" / "bin" / f"python{python}")))
    for candidate in filter(None, candidates):
        probe = subprocess.run(  # noqa: S603 - the interpreter's own version, no shell
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == python:
            return candidate
    return None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def bundled_requirements(text: str) -> list[str]:
    """The lines of a requirements file that go into the asset: all but comments and the runtime's SDK."""
    kept = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name = _REQUIREMENT_NAME.match(line)
        if name and _canonical(name[1]) in RUNTIME_PROVIDED:
            continue
        kept.append(line)
    return kept


def _source_files(source: Path) -> list[Path]:
    """The files of the package that go into the asset."""
    return sorted(
        path
        for path in source.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix != ".pyc"
        and path.relative_to(source).parts[0] not in LEFT_OUT
    )


def asset_hash(
    *,
    platform: str,
    python: str,
    byte_code: bool,
    source: Path = SOURCE_PACKAGE,
    requirements: Path = REQUIREMENTS,
) -> str:
    """A hash of all the asset is built from, so that CDK neither fingerprints the repo nor redeploys needlessly."""
    digest = hashlib.sha256()
    # This module is part of the recipe: changing how the asset is built changes the hash. So does the byte code,
    # so that a deployment from a host that can compile it replaces an asset built on one that could not.
    for part in (platform, python, str(byte_code), Path(__file__).read_text(), requirements.read_text()):
        digest.update(part.encode() + b"\0")
    for path in _source_files(source):
        digest.update(path.relative_to(source).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_asset(
    output_dir: Path,
    *,
    platform: str,
    python: str,
    source: Path = SOURCE_PACKAGE,
    requirements: Path = REQUIREMENTS,
    compiler: str | None = None,
    pip: Sequence[str] = (sys.executable, "-m", "pip"),
) -> None:
    """Install the runtime dependencies as wheels for `platform` and `python` into `output_dir`, add `source`.

    `compiler`, an interpreter of the runtime's Python version, compiles every module's byte code into the asset;
    without one the asset has none.
    """
    kept = bundled_requirements(requirements.read_text())
    if kept:
        with tempfile.TemporaryDirectory() as work:
            filtered = Path(work) / "requirements.txt"
            filtered.write_text("\n".join(kept) + "\n")
            command = [
                *pip,
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                # Byte code compiled by the host's Python is of no use to the runtime's: `compiler` makes it.
                "--no-compile",
                # Binary wheels only: pip must not build a native extension for the host's platform.
                "--only-binary=:all:",
                "--platform",
                platform,
                "--implementation",
                "cp",
                "--python-version",
                python,
                "--target",
                str(output_dir),
                "--requirement",
                str(filtered),
            ]
            subprocess.run(command, check=True)  # noqa: S603 - a fixed command, no shell
    shutil.copytree(source, output_dir / source.name, ignore=_ignored, dirs_exist_ok=True)
    for cache in sorted(output_dir.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    if compiler is not None:
        compiled = subprocess.run(  # noqa: S603 - a fixed command, no shell
            [compiler, *COMPILE_BYTE_CODE, str(output_dir)], capture_output=True, text=True, check=False
        )
        if compiled.returncode:
            # A speed-up only: a module left without byte code still runs, compiled at each cold start.
            failed = " ".join((compiled.stdout + compiled.stderr).split())[:300]
            print(f"sg-remediator: some modules have no byte code in the asset: {failed}", file=sys.stderr)


@jsii.implements(ILocalBundling)
class LocalBundling:
    """Builds the asset on the host with pip's cross-platform wheel selection; Docker is the fallback."""

    def __init__(self, *, platform: str, python: str, source: Path, requirements: Path, compiler: str | None) -> None:
        self.platform = platform
        self.python = python
        self.source = source
        self.requirements = requirements
        self.compiler = compiler

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: Any) -> bool:
        """Build into `output_dir`; False (after saying why) lets CDK bundle in the Docker image instead."""
        if self.compiler is None:
            print(
                f"sg-remediator: no python{self.python} on this host: the asset goes without byte code, so each cold"
                " start compiles the modules it imports (install that Python, or let CDK bundle in Docker)",
                file=sys.stderr,
            )
        try:
            build_asset(
                Path(output_dir),
                platform=self.platform,
                python=self.python,
                source=self.source,
                requirements=self.requirements,
                compiler=self.compiler,
            )
        except (OSError, subprocess.CalledProcessError) as error:
            print(f"sg-remediator: local bundling failed ({error}); trying Docker", file=sys.stderr)
            return False
        return True


def _docker_command(*, platform: str, python: str, source: Path, requirements: Path) -> list[str]:
    """The same build inside the runtime's bundling image, for hosts where local bundling fails."""
    names = "|".join(sorted(RUNTIME_PROVIDED))
    script = " && ".join(
        [
            "set -eu",
            f"(grep -viE '^[[:space:]]*({names})([^A-Za-z0-9._-]|$)' /asset-input/{requirements.name}"
            " | sed 's/#.*//' | grep -v '^[[:space:]]*$' > /tmp/requirements.txt || true)",
            "(test ! -s /tmp/requirements.txt || pip install --quiet --no-compile --only-binary=:all:"
            f" --platform {platform} --implementation cp --python-version {python}"
            " --target /asset-output --requirement /tmp/requirements.txt)",
            f"cp -r /asset-input/{source.name} /asset-output/",
            *(f"rm -rf /asset-output/{source.name}/{left_out}" for left_out in LEFT_OUT),
            "find /asset-output -name __pycache__ -prune -exec rm -rf {} +",
            # The bundling image's Python is the runtime's.
            f"(python {' '.join(COMPILE_BYTE_CODE)} /asset-output"
            " || echo 'sg-remediator: some modules have no byte code in the asset' >&2)",
        ]
    )
    return ["bash", "-c", script]


@dataclass(frozen=True)
class AssetRecipe:
    """What the Lambda asset is built from and how: the one recipe of every copy of the asset."""

    path: str
    asset_hash: str
    bundling: BundlingOptions


def asset_recipe(
    *,
    runtime: lambda_.Runtime,
    architecture: lambda_.Architecture,
    source: Path = SOURCE_PACKAGE,
    requirements: Path = REQUIREMENTS,
) -> AssetRecipe:
    """The asset built locally (or in Docker), hashed from what it is built from."""
    if source.parent != requirements.parent:
        raise ValueError("the source package and requirements.txt must share a directory (the asset root)")
    platform = wheel_platform(architecture)
    python = python_version(runtime)
    compiler = runtime_interpreter(python)
    return AssetRecipe(
        path=str(source.parent),
        asset_hash=asset_hash(
            platform=platform, python=python, byte_code=compiler is not None, source=source, requirements=requirements
        ),
        bundling=BundlingOptions(
            image=runtime.bundling_image,
            command=_docker_command(platform=platform, python=python, source=source, requirements=requirements),
            environment={"HOME": "/tmp", "PIP_NO_CACHE_DIR": "1"},  # noqa: S108 - inside the container
            local=LocalBundling(
                platform=platform, python=python, source=source, requirements=requirements, compiler=compiler
            ),
        ),
    )


def lambda_code(
    *,
    runtime: lambda_.Runtime,
    architecture: lambda_.Architecture,
    source: Path = SOURCE_PACKAGE,
    requirements: Path = REQUIREMENTS,
) -> lambda_.Code:
    """The function's code: the asset of `asset_recipe`, staged by the stack's synthesizer."""
    recipe = asset_recipe(runtime=runtime, architecture=architecture, source=source, requirements=requirements)
    return lambda_.Code.from_asset(
        recipe.path, asset_hash=recipe.asset_hash, asset_hash_type=AssetHashType.CUSTOM, bundling=recipe.bundling
    )


def lambda_asset(
    scope: Construct,
    construct_id: str,
    *,
    runtime: lambda_.Runtime,
    architecture: lambda_.Architecture,
    source: Path = SOURCE_PACKAGE,
    requirements: Path = REQUIREMENTS,
) -> s3_assets.Asset:
    """The same asset as `lambda_code`, as an S3 asset of its own (same recipe, so the same hash and zip)."""
    recipe = asset_recipe(runtime=runtime, architecture=architecture, source=source, requirements=requirements)
    return s3_assets.Asset(
        scope,
        construct_id,
        path=recipe.path,
        asset_hash=recipe.asset_hash,
        asset_hash_type=AssetHashType.CUSTOM,
        bundling=recipe.bundling,
    )
