"""Our deployment package, zipped the way a Lambda .zip is: remediator/ plus its runtime dependencies.

Built by infra.bundling (what the CDK stack deploys) when it can run; else from .venv's installed distributions.
Either way boto3 and botocore are left out, since the Lambda Python runtime provides them (c7n's own archive,
c7n.mu, leaves them out too). The asset holds byte code only when this host has the runtime's Python to compile it
(infra.bundling.runtime_interpreter); the fallback never does, like c7n's archive.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.aws import ROOT, WORK

RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(lines: list[str]) -> list[str]:
    names = []
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if not text or text.startswith("-") or "extra ==" in text:
            continue
        match = NAME.match(text)
        if match:
            names.append(canonical(match.group(1)))
    return names


def runtime_distributions() -> list[str]:
    """requirements.txt's distributions and everything they need, less what the Lambda runtime provides."""
    wanted = requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    seen: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name in seen or name in RUNTIME_PROVIDED:
            continue
        seen.add(name)
        wanted.extend(requirement_names(metadata.requires(name) or []))
    return sorted(seen)


def keep(path: str) -> bool:
    return "__pycache__" not in path and not path.endswith(".pyc")


def zip_tree(source: Path, target: Path) -> tuple[int, int]:
    """Zip a directory, all of it, as a Lambda .zip (deflated); returns (files, unzipped bytes)."""
    files = unzipped = 0
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source).as_posix()
            if path.is_file():
                z.write(path, relative)
                files += 1
                unzipped += path.stat().st_size
    return files, unzipped


def build_with_infra(target: Path) -> dict[str, Any]:
    """The asset exactly as the CDK stack builds it (infra.bundling), for the stack's runtime and architecture."""
    from infra.bundling import build_asset, python_version, runtime_interpreter, wheel_platform  # noqa: PLC0415
    from infra.components.remediator_function import ARCHITECTURE, RUNTIME  # noqa: PLC0415

    platform, python = wheel_platform(ARCHITECTURE), python_version(RUNTIME)
    compiler = runtime_interpreter(python)
    with tempfile.TemporaryDirectory() as work:
        build_asset(Path(work), platform=platform, python=python, compiler=compiler)
        files, unzipped = zip_tree(Path(work), target)
        dists = sorted(canonical(p.name.split("-")[0]) for p in Path(work).glob("*.dist-info"))
    return {
        "zip_bytes": target.stat().st_size,
        "unzipped_bytes": unzipped,
        "files": files,
        "distributions": dists,
        "method": (
            f"infra.bundling.build_asset, as the stack deploys it (python{python}, {platform} wheels, "
            + ("with byte code" if compiler else f"no byte code: no python{python} on this host")
            + ")"
        ),
    }


def build_ours(target: Path | None = None) -> dict[str, Any]:
    """Our asset as infra builds it; from .venv's installed distributions when that cannot run (no PyPI)."""
    target = target or WORK / "ours-lambda.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        return build_with_infra(target)
    except Exception as error:  # noqa: BLE001 - the fallback says why in the results
        reason = f"{type(error).__name__}: {error}"
    result = build_from_venv(target)
    result["method"] = f"remediator/ + .venv's installed distributions (infra.bundling failed: {reason[:200]})"
    return result


def build_from_venv(target: Path) -> dict[str, Any]:
    files = 0
    unzipped = 0
    dists = runtime_distributions()
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for path in sorted((ROOT / "remediator").rglob("*")):
            relative = path.relative_to(ROOT).as_posix()
            if path.is_file() and keep(relative):
                z.write(path, relative)
                files += 1
                unzipped += path.stat().st_size
        for name in dists:
            dist = metadata.distribution(name)
            for entry in dist.files or []:
                relative = entry.as_posix()
                source = Path(str(dist.locate_file(entry)))
                if relative.startswith("..") or not keep(relative) or not source.is_file():
                    continue
                z.write(source, relative)
                files += 1
                unzipped += source.stat().st_size
    return {
        "zip_bytes": target.stat().st_size,
        "unzipped_bytes": unzipped,
        "files": files,
        "distributions": dists,
    }


def host_asset(target: Path, *, byte_code: bool) -> Path:
    """Our asset as infra builds it, for this host's Python and platform (so that it runs here), with or without
    the byte code that infra compiles when the runtime's Python is on the build host."""
    import platform as host  # noqa: PLC0415

    from aws_cdk import aws_lambda as lambda_  # noqa: PLC0415

    from infra.bundling import build_asset, wheel_platform  # noqa: PLC0415

    architecture = lambda_.Architecture.ARM_64 if host.machine() == "aarch64" else lambda_.Architecture.X86_64
    if target.exists():
        shutil.rmtree(target)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    build_asset(
        target,
        platform=wheel_platform(architecture),
        python=python,
        compiler=sys.executable if byte_code else None,
    )
    return target


def unpacked(archive: Path, target: Path) -> Path:
    """A Lambda .zip unpacked as Lambda unpacks it into /var/task."""
    if target.exists():
        shutil.rmtree(target)
    with zipfile.ZipFile(archive) as z:
        z.extractall(target)
    return target
