"""`scan --org` against c7n-org over one moto organisation: `python -m bench.org [--accounts N] [--groups N]`.

One moto server (in this process, on loopback) holds an organisation of N accounts (this one manages it, the others
made by Organizations' CreateAccount), each with G security groups in each of two regions, one in ten with tcp/22
open to the world. Both tools read it over HTTP (`AWS_ENDPOINT_URL`), each from its own venv, assuming moto's
OrganizationAccountAccessRole in every member account, eight at a time (our thread pool's default; c7n-org's
process pool is sized by C7N_ORG_PARALLEL, set to the same). Ours: `python -m remediator scan --org`, read-only.
c7n-org: `c7n-org run` of the issue's policy in pull mode without its action (read-only too). The result, as JSON,
goes to --json (or stdout).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.aws import ROOT, WORK, use_fake_credentials
from bench.policies import EQUIVALENT
from bench.tools import C7N_VENV

REGIONS = ("us-east-1", "eu-west-1")
ROLE = "OrganizationAccountAccessRole"  # the role moto's CreateAccount makes in each member account
WORKERS = 8
MANAGEMENT = "123456789012"  # moto's default account: the one whose credentials both tools start from
RISKY_EVERY = 10
ORG_DIR = WORK / "org"


def build(accounts: int, groups: int, endpoint: str) -> list[str]:
    """The organisation and its groups; returns the account ids, the management account first."""
    import boto3  # noqa: PLC0415
    from moto.ec2.models import ec2_backends  # noqa: PLC0415

    organizations = boto3.client("organizations", region_name=REGIONS[0], endpoint_url=endpoint)
    organizations.create_organization(FeatureSet="ALL")
    members = [
        organizations.create_account(AccountName=f"member-{number:02}", Email=f"member-{number:02}@example.com")[
            "CreateAccountStatus"
        ]["AccountId"]
        for number in range(1, accounts)
    ]
    ids = [MANAGEMENT, *members]
    for account in ids:
        for region in REGIONS:
            # Through moto's backend: set-up only (the API would check each new name against every group).
            backend: Any = ec2_backends[account][region]
            vpc_id = backend.default_vpc.id if getattr(backend, "default_vpc", None) else None
            for number in range(groups):
                group = backend.create_security_group(f"bench-org-{number}", "bench org", vpc_id, force=True)
                backend.authorize_security_group_ingress(
                    group.id, "tcp", 443, 443, [{"CidrIp": "0.0.0.0/0"}], vpc_id=vpc_id
                )
                if number % RISKY_EVERY == 0:
                    backend.authorize_security_group_ingress(
                        group.id, "tcp", 22, 22, [{"CidrIp": "0.0.0.0/0"}], vpc_id=vpc_id
                    )
    return ids


def child_env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REMEDIATOR_", "AWS_ENDPOINT"))}
    env.update(AWS_ENDPOINT_URL=endpoint, C7N_ORG_PARALLEL=str(WORKERS), PYTHONPATH=str(ROOT))
    return env


def run_ours(endpoint: str) -> dict[str, Any]:
    """`scan --org` over both regions; its JSON output gives what it read and found."""
    command = [sys.executable, "-m", "remediator", "scan", "--org", "--role-name", ROLE, "--format", "json"]
    for region in REGIONS:
        command += ["--region", region]
    command += ["--max-workers", str(WORKERS)]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=child_env(endpoint), capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    # Exit 1 means risky rules were found, which is what the organisation holds.
    if proc.returncode not in (0, 1):
        return {"seconds": seconds, "error": f"exit {proc.returncode}: {proc.stderr[-600:]}"}
    data = json.loads(proc.stdout)
    return {
        "seconds": seconds,
        "error": None,
        "accounts": len(data["accounts"]),
        "regions": len(data["regions"]),
        "groups_scanned": data["summary"]["groups_scanned"],
        "risky_rules": len(data["rows"]),
        "complete": data["complete"],
    }


def run_c7n_org(endpoint: str, accounts: Sequence[str]) -> dict[str, Any]:
    """`c7n-org run` of the read-only policy over the same accounts and regions."""
    c7n_org = C7N_VENV / "bin" / "c7n-org"
    if not c7n_org.exists():
        return {"seconds": None, "error": f"c7n-org is not installed in {C7N_VENV.relative_to(ROOT)}"}
    ORG_DIR.mkdir(parents=True, exist_ok=True)
    config = {
        "accounts": [
            {"account_id": account, "name": f"account-{account}", "role": f"arn:aws:iam::{account}:role/{ROLE}"}
            for account in accounts
        ]
    }
    policy = {k: v for k, v in EQUIVALENT.items() if k not in ("mode", "actions")}
    (ORG_DIR / "accounts.json").write_text(json.dumps(config))
    (ORG_DIR / "policy.json").write_text(json.dumps({"policies": [policy]}))
    output = ORG_DIR / "output"
    shutil.rmtree(output, ignore_errors=True)  # only this run's results are counted
    command = [str(c7n_org), "run", "-c", "accounts.json", "-u", "policy.json", "-s", str(output)]
    command += ["--cache-period", "0"]
    for region in REGIONS:
        command += ["--region", region]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ORG_DIR, env=child_env(endpoint), capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    found = sorted(output.glob(f"**/{policy['name']}/resources.json"))
    risky = sum(len(json.loads(path.read_text())) for path in found)
    errors = [line for line in proc.stderr.splitlines() if "Error running policy" in line or "Traceback" in line]
    error = None
    if proc.returncode or errors or len(found) != len(accounts) * len(REGIONS):
        error = (
            f"exit {proc.returncode}, {len(found)} of {len(accounts) * len(REGIONS)} account-regions written: "
            + " | ".join(errors[:3] or proc.stderr.splitlines()[-3:])
        )[:600]
    return {"seconds": seconds, "error": error, "account_regions": len(found), "risky_groups": risky}


def run_org(accounts: int, groups: int, *, c7n: bool = True) -> dict[str, Any]:
    """Build the organisation on a moto server, then time both tools over it."""
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"  # each account and region would load moto's AMI catalogue
    use_fake_credentials()
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    from bench.__main__ import free_port  # noqa: PLC0415

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        started = time.perf_counter()
        ids = build(accounts, groups, endpoint)
        setup = time.perf_counter() - started
        ours = run_ours(endpoint)
        theirs = run_c7n_org(endpoint, ids) if c7n else {"seconds": None, "error": "not run"}
    finally:
        server.stop()
    return {
        "accounts": accounts,
        "regions": list(REGIONS),
        "groups_per_region": groups,
        "risky_every": RISKY_EVERY,
        "workers": WORKERS,
        "setup_seconds": setup,
        "ours": ours,
        "c7n_org": theirs,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.org", description=__doc__)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--groups", type=int, default=500, help="groups in each account and region")
    parser.add_argument("--no-c7n", action="store_true", help="time `scan --org` only")
    parser.add_argument("--json", type=Path, help="where to write the result (default: stdout)")
    args = parser.parse_args(argv)
    result = run_org(args.accounts, args.groups, c7n=not args.no_c7n)
    text = json.dumps(result, indent=1)
    if args.json:
        args.json.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
