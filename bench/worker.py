"""One measurement in one tool's interpreter: `python -m bench.worker TASK TOOL --out FILE [options]`.

Tasks: `package` (c7n's venv: build c7n's own Lambda archive of each policy), `warm` (latency, own time and AWS
calls per event on in-process moto), `precision` (the corpus), `sweep` (c7n pull mode / our scan over N groups).
Results are written as JSON to --out; stdout is the tools' log stream (the harness sends it to /dev/null).
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import sys
import time
import traceback
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.aws import (
    ACCOUNT,
    REGION,
    TOPIC_NAME,
    Account,
    ApiMeter,
    Perm,
    build_event,
    build_modify_event,
    load_event,
    perms_of_record,
    record_of,
    replay_event,
    use_fake_credentials,
)
from bench.corpus import BASELINE, Case, all_cases
from bench.tools import C7N_LAMBDAS, CUSTODIAN, LambdaContext, c7n_task_dir, lambda_logging, load_handler

Handler = Callable[[dict[str, Any], object], Any]
RISKY = Perm("tcp", 22, 22, cidrs=("0.0.0.0/0",))
BENIGN = Perm("tcp", 8443, 8443, cidrs=("198.51.100.0/24",))


def mock() -> Any:
    from moto import mock_aws  # noqa: PLC0415 - moto is imported only where it is used

    return mock_aws()


# ---- package ---------------------------------------------------------------------------------------------


def package_c7n() -> dict[str, Any]:
    """Build c7n's own Lambda archive (c7n.mu.PolicyLambda, what `custodian run` deploys) for each policy."""
    from c7n import mu  # noqa: PLC0415
    from c7n.config import Config  # noqa: PLC0415
    from c7n.policy import Policy  # noqa: PLC0415
    from c7n.resources import load_resources  # noqa: PLC0415

    from bench.policies import POLICIES  # noqa: PLC0415

    load_resources(("aws.security-group",))
    sizes: dict[str, Any] = {}
    for variant in CUSTODIAN:
        policy = Policy(POLICIES[variant], Config.empty(region=REGION, account_id=ACCOUNT))
        policy.validate()
        archive = mu.PolicyLambda(policy).get_archive()
        target = C7N_LAMBDAS / variant
        target.mkdir(parents=True, exist_ok=True)
        archive_path = target / "archive.zip"
        archive_path.write_bytes(Path(archive.path).read_bytes())
        task = c7n_task_dir(variant)
        task.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(archive_path) as z:
            for name in ("config.json", "custodian_policy.py"):
                (task / name).write_bytes(z.read(name))
            infos = z.infolist()
        sizes[variant] = {
            "zip_bytes": archive_path.stat().st_size,
            "unzipped_bytes": sum(i.file_size for i in infos),
            "files": len(infos),
        }
    return sizes


# ---- warm ------------------------------------------------------------------------------------------------


def setup_account() -> tuple[Account, dict[str, str]]:
    import boto3  # noqa: PLC0415

    account = Account()
    boto3.client("sns", region_name=REGION).create_topic(Name=TOPIC_NAME)
    return account, {"sg:peer": account.new_group("peer")}


class GcWatch:
    """Garbage-collection pauses inside the timed part of each event (gc.callbacks)."""

    def __init__(self, meter: ApiMeter) -> None:
        self.meter = meter
        self.started = 0
        self.pauses: list[tuple[int, int]] = []  # (generation, ns)
        gc.callbacks.append(self.callback)

    def callback(self, phase: str, info: Mapping[str, int]) -> None:
        if not self.meter.active:
            return
        if phase == "start":
            self.started = time.perf_counter_ns()
        elif self.started:
            self.pauses.append((info["generation"], time.perf_counter_ns() - self.started))
            self.started = 0

    def take(self) -> list[tuple[int, int]]:
        taken, self.pauses = self.pauses, []
        return taken


def one_event(
    account: Account, group_id: str, perm: Perm, handler: Handler, meter: ApiMeter
) -> tuple[int, int, list[str], str | None]:
    """Open the rule (a real call), build its event, time the handler on it, then put the group back."""
    created = account.authorize(group_id, [perm])
    event = build_event(group_id=group_id, perms=[perm], created=created)
    meter.reset()
    meter.active = True
    error = None
    start = time.perf_counter_ns()
    try:
        handler(event, LambdaContext())
    except Exception as exc:  # noqa: BLE001 - a tool's failure is a result to report
        error = f"{type(exc).__name__}: {exc}"
    total = time.perf_counter_ns() - start
    meter.active = False
    calls, api_ns = list(meter.calls), meter.ns
    account.revoke_rules(group_id, perm.rules())
    return total, total - api_ns, calls, error


def warm(tool: str, events: int, warmup: int) -> dict[str, Any]:
    use_fake_credentials()
    lambda_logging()
    with mock():
        account, refs = setup_account()
        meter = ApiMeter().install()
        meter.active = False
        watch = GcWatch(meter)
        groups = {}
        for name in ("risky", "benign"):
            groups[name] = account.new_group(f"warm-{name}")
            account.authorize(groups[name], [p.resolved(refs) for p in BASELINE])
        start = time.perf_counter_ns()
        handler = load_handler(tool)
        import_ns = time.perf_counter_ns() - start
        first = one_event(account, groups["risky"], RISKY, handler, meter)
        out: dict[str, Any] = {
            "tool": tool,
            "import_ms": import_ns / 1e6,
            "first_event": {"ms": first[0] / 1e6, "calls": first[2], "error": first[3]},
            "scenarios": {},
        }
        for name, perm in (("risky", RISKY), ("benign", BENIGN)):
            for _ in range(warmup):
                one_event(account, groups[name], perm, handler, meter)
            watch.take()
            samples = [one_event(account, groups[name], perm, handler, meter) for _ in range(events)]
            pauses = watch.take()
            out["scenarios"][name] = {
                "total_ns": [s[0] for s in samples],
                "own_ns": [s[1] for s in samples],
                "calls": [s[2] for s in samples],
                "errors": sorted({s[3] for s in samples if s[3]}),
                "gc_full_ns": [ns for generation, ns in pauses if generation == 2],
                "gc_total_ns": sum(ns for _, ns in pauses),
                "left_open": [r.to_json() for r in account.rules(groups[name]) if r in perm.rules()],
            }
    return out


# ---- precision -------------------------------------------------------------------------------------------


def modify_rules(account: Account, group_id: str, targets: Sequence[Mapping[str, Any]]) -> list[str]:
    """For each target, open a legitimate rule (tcp/22 from a private /24) and modify it into the target."""
    rule_ids = []
    for index, target in enumerate(targets):
        (created,) = account.authorize(group_id, [Perm("tcp", 22, 22, cidrs=(f"10.99.{index}.0/24",))])
        rule_id = str(created["SecurityGroupRuleId"])
        nested = {k: v for k, v in target.items() if k != "Description" or v}
        account.ec2.modify_security_group_rules(
            GroupId=group_id, SecurityGroupRules=[{"SecurityGroupRuleId": rule_id, "SecurityGroupRule": nested}]
        )
        rule_ids.append(rule_id)
    return rule_ids


def open_case(account: Account, case: Case, group: str, refs: dict[str, str]) -> dict[str, Any]:
    """Make on the group the change the case's call made, and return the event of that call."""
    original: dict[str, Any] | None = None
    egress = case.egress
    failed = False
    perms = list(case.perms)
    event_name = "AuthorizeSecurityGroupEgress" if egress else "AuthorizeSecurityGroupIngress"
    if case.event_file:
        original = load_event(case.event_file)
        record = record_of(original)
        event_name = str(record.get("eventName", ""))
        egress = event_name == "AuthorizeSecurityGroupEgress"
        failed = bool(record.get("errorCode"))  # a failed call changed nothing
        perms = perms_of_record(record) if event_name.startswith("AuthorizeSecurityGroup") else []
        for perm in perms:
            for referenced in perm.groups:
                refs.setdefault(referenced, account.new_group("referenced"))
    perms = [p.resolved(refs) for p in perms]

    created: list[dict[str, Any]] = []
    if perms and not failed:
        # A rule the call adds that the group already has (the default egress rule) is taken away first, as
        # Terraform does: AWS would refuse the duplicate.
        direction = "out" if egress else "in"
        wanted = {r for p in perms for r in p.rules(direction)}
        account.revoke_rules(group, [r for r in account.rules(group) if r in wanted])
        created = account.authorize(group, perms, egress=egress)

    if event_name == "ModifySecurityGroupRules" and original is not None:
        event = copy.deepcopy(original)
        request = record_of(event).get("requestParameters", {}).get("ModifySecurityGroupRulesRequest", {})
        listed = request.get("SecurityGroupRule", [])
        changes = listed if isinstance(listed, list) else [listed]
        rule_ids = modify_rules(account, group, [c.get("SecurityGroupRule", {}) for c in changes])
        for change, rule_id in zip(changes, rule_ids, strict=True):
            change["SecurityGroupRuleId"] = rule_id
        request["GroupId"] = group
        return replay_event(event, group_id=group, refs=refs, created=[])
    if case.modify is not None:
        nested: dict[str, Any] = {"IpProtocol": case.modify.protocol, **case.modify.ports()}
        nested["CidrIpv4"] = case.modify.cidrs[0]
        (rule_id,) = modify_rules(account, group, [nested])
        return build_modify_event(group_id=group, rule_id=rule_id, perm=case.modify)
    if original is not None:
        return replay_event(original, group_id=group, refs=refs, created=created)
    return build_event(group_id=group, perms=perms, created=created, event_name=event_name, ruleset=case.ruleset)


def run_case(account: Account, handler: Handler, case: Case) -> dict[str, Any]:
    """A fresh group with the baseline rules, the case's call made on it, the tool run on the call's event."""
    refs: dict[str, str] = {"sg:peer": account.new_group("peer")}
    for ref, cidrs in case.prefix_lists:
        refs[ref] = account.new_prefix_list(ref.split(":")[1], cidrs)
    prefix_contents = {refs[ref]: list(cidrs) for ref, cidrs in case.prefix_lists}
    group = account.new_group(case.name[:40])
    account.authorize(group, [p.resolved(refs) for p in BASELINE])
    event = open_case(account, case, group, refs)
    before = account.rules(group)
    error = None
    returned = None
    try:
        returned = handler(event, LambdaContext())
    except Exception as exc:  # noqa: BLE001 - a tool's failure is a result to report
        error = f"{type(exc).__name__}: {exc}"
    after = account.rules(group)
    return {
        "case": case.name,
        "before": [r.to_json() for r in before],
        "after": [r.to_json() for r in after],
        "prefix_lists": prefix_contents,
        "error": error,
        "returned": json.dumps(returned, default=str)[:2000],
    }


def precision(tool: str) -> dict[str, Any]:
    use_fake_credentials()
    lambda_logging()
    with mock():
        account, _ = setup_account()
        handler = load_handler(tool)
        return {"tool": tool, "cases": [run_case(account, handler, case) for case in all_cases()]}


# ---- sweep ----------------------------------------------------------------------------------------------

SWEEP_RULES = (
    Perm("tcp", 443, 443, cidrs=("0.0.0.0/0",)),
    Perm("tcp", 22, 22, cidrs=("10.0.0.0/8",)),
)


def moto_backend() -> Any:
    from moto.ec2.models import ec2_backends  # noqa: PLC0415

    return ec2_backends[ACCOUNT][REGION]


def index_groups(backend: Any) -> dict[str, Any]:
    """Give moto's security groups the lookups AWS has, so that at 10,000 groups moto's cost does not swamp the
    tools' own: a group by id from a dict instead of a scan of every group (which moto does on every call), and
    DescribeSecurityGroupRules filtered by group-id over those groups' rules instead of a copy of every rule of
    the region. What the calls return is unchanged."""
    original_lookup = backend.get_security_group_from_id
    original_rules = backend.describe_security_group_rules
    index: dict[str, Any] = {}

    def lookup(group_id: str) -> Any:
        group = index.get(group_id)
        if group is None:
            group = original_lookup(group_id)
            if group is not None:
                index[group_id] = group
        return group

    def rules(sg_rule_ids: list[str], filters: dict[str, list[str]]) -> Any:
        if sg_rule_ids or set(filters) != {"group-id"}:
            return original_rules(sg_rule_ids, filters)
        narrowed: dict[str, dict[str, Any]] = defaultdict(dict)
        for group_id in filters["group-id"]:
            group = lookup(group_id)
            if group is not None:
                narrowed[group.vpc_id][group_id] = group
        everything = backend.groups
        backend.groups = narrowed
        try:
            return original_rules(sg_rule_ids, filters)
        finally:
            backend.groups = everything

    backend.get_security_group_from_id = lookup
    backend.describe_security_group_rules = rules
    return index


def populate(account: Account, groups: int, risky_every: int, *, indexed: bool = True) -> list[str]:
    """N groups with legitimate rules, every risky_every-th also with tcp/22 open to the world.

    Made through moto's backend rather than its API: set-up only, and the API would take minutes at 10,000.
    `indexed`: moto's lookups of groups given an index (`index_groups`); else moto as it is.
    """
    backend = moto_backend()
    index = index_groups(backend) if indexed else {}
    made = []
    for number in range(groups):
        group = backend.create_security_group(f"bench-sweep-{number}", "bench sweep", account.vpc_id, force=True)
        if indexed:
            index[group.id] = group
        for perm in (*SWEEP_RULES, RISKY) if number % risky_every == 0 else SWEEP_RULES:
            backend.authorize_security_group_ingress(
                group.id, perm.protocol, perm.from_port, perm.to_port, [{"CidrIp": c} for c in perm.cidrs]
            )
        made.append(group.id)
    return made


def risky_left(groups: Sequence[str]) -> int:
    backend = moto_backend()
    left = 0
    for group_id in groups:
        group = backend.get_security_group_from_id(group_id)
        left += any(
            r.ip_protocol == "tcp" and int(r.from_port) == 22 and (r.ip_range or {}).get("CidrIp") == "0.0.0.0/0"
            for r in group.ingress_rules
        )
    return left


def sweep(tool: str, sizes: Sequence[int], risky_every: int, *, indexed: bool = True) -> dict[str, Any]:
    """Time a whole-region pass over N groups: c7n's pull mode, or our scheduled sweep."""
    use_fake_credentials()
    lambda_logging()
    meter = ApiMeter().install()
    meter.active = False
    results: list[dict[str, Any]] = []
    runner = sweep_runner(tool)
    with mock():
        # One untimed pass over a few groups first: lazy imports and client creation are not the sweep's scaling.
        account, _ = setup_account()
        populate(account, 10, risky_every)
        runner()
    for size in sizes:
        with mock():
            account, _ = setup_account()
            groups = populate(account, size, risky_every, indexed=indexed)
            # moto's groups are set-up, not either tool's: in Lambda, AWS's state is not in the function's heap,
            # so the collector is kept from walking them over and over during the pass (gc.freeze), for both tools.
            gc.collect()
            gc.freeze()
            meter.reset()
            meter.active = True
            start = time.perf_counter_ns()
            error = None
            try:
                runner()
            except Exception as exc:  # noqa: BLE001 - a tool's failure is a result to report
                error = f"{type(exc).__name__}: {exc}"
            total = time.perf_counter_ns() - start
            meter.active = False
            gc.unfreeze()
            results.append(
                {
                    "groups": size,
                    "risky_groups": len(range(0, size, risky_every)),
                    "left_open": risky_left(groups),
                    "ms": total / 1e6,
                    "api_ms": meter.ns / 1e6,
                    "calls": len(meter.calls),
                    "by_operation": dict(Counter(meter.calls)),
                    "api_ms_by_operation": {k: v / 1e6 for k, v in meter.ns_by_operation.items()},
                    "error": error,
                }
            )
    return {"tool": tool, "indexed": indexed, "sizes": results}


def sweep_runner(tool: str) -> Callable[[], object]:
    """The tool's pass over the region, loaded (imports, resource types) before any timing."""
    if tool in CUSTODIAN:
        from c7n.config import Config  # noqa: PLC0415
        from c7n.policy import Policy  # noqa: PLC0415
        from c7n.resources import load_resources  # noqa: PLC0415

        from bench.policies import POLICIES  # noqa: PLC0415

        load_resources(("aws.security-group",))
        # The policy in pull mode (no `mode`): describe every group, filter, remove-permissions.
        data = {k: v for k, v in POLICIES[tool].items() if k != "mode"}
        out_dir = C7N_LAMBDAS / "pull-output"

        def pull() -> object:
            options = Config.empty(region=REGION, account_id=ACCOUNT, output_dir=str(out_dir), cache="")
            policy = Policy(data, options)
            policy.validate()
            return policy()

        return pull
    # Our sweep is the Lambda on its schedule; it revokes, as c7n's pull mode with remove-permissions does.
    os.environ["REMEDIATOR_SWEEP_MODE"] = "revoke"
    handler = load_handler(tool)
    scheduled = {
        "version": "0",
        "id": "bench-sweep",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-01-01T00:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/sg-remediator-sweep"],
        "detail": {},
    }
    return lambda: handler(scheduled, LambdaContext())


# ---- order of the event path's calls ----------------------------------------------------------------------

STATE_TABLE = "sg-remediator-bench-state"


def event_order(events: int) -> dict[str, Any]:
    """The AWS calls of the event path in the order made, for risky events with every integration on.

    A topic, Security Hub, the outcome events and the state table (a moto DynamoDB table, hash key `key`): the
    calls each adds must come after the revoke, which stays the second call (one describe, then the revoke).
    """
    import boto3  # noqa: PLC0415

    use_fake_credentials()
    lambda_logging()
    with mock():
        account, refs = setup_account()
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=STATE_TABLE,
            KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("securityhub", region_name=REGION).enable_security_hub()
        os.environ.update(
            REMEDIATOR_SECURITY_HUB="true", REMEDIATOR_OUTCOME_EVENTS="true", REMEDIATOR_STATE_TABLE=STATE_TABLE
        )
        meter = ApiMeter().install()
        meter.active = False
        handler = load_handler("ours")
        group = account.new_group("order")
        account.authorize(group, [p.resolved(refs) for p in BASELINE])
        sequences: list[list[str]] = []
        errors: list[str] = []
        for _ in range(events):
            _, _, calls, error = one_event(account, group, RISKY, handler, meter)
            sequences.append(calls)
            if error:
                errors.append(error)
    return {"sequences": sequences, "errors": errors}


# ---- entry -----------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("task", choices=["package", "warm", "precision", "sweep", "order"])
    parser.add_argument("tool")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--risky-every", type=int, default=10)
    parser.add_argument("--plain", action="store_true", help="sweep: moto without the bench's lookup index")
    args = parser.parse_args(argv)
    out_path: Path = args.out.resolve()
    try:
        if args.task == "package":
            result: Mapping[str, Any] = package_c7n()
        elif args.task == "warm":
            result = warm(args.tool, args.events, args.warmup)
        elif args.task == "precision":
            result = precision(args.tool)
        elif args.task == "order":
            result = event_order(args.events)
        else:
            result = sweep(args.tool, [int(s) for s in args.sizes.split(",")], args.risky_every, indexed=not args.plain)
    except Exception:  # noqa: BLE001 - reported to the harness, which stops with it
        sys.stderr.write(traceback.format_exc())
        return 1
    out_path.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
