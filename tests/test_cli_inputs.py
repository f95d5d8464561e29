"""`replay`'s inputs: every shape of saved event, gzipped or not, several files, read as a stream in flat memory."""

from __future__ import annotations

import gzip
import io
import json
import sys
import tracemalloc
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import World
from test_replay import invocation_record, lookup_events_output, received_messages

from remediator.cli import inputs, replay
from remediator.cli.main import main
from remediator.cli.output import CliError

SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
BOM = "\ufeff"


def write(path: Path, text: str, *, gzipped: bool = False) -> str:
    """The text saved at the path as UTF-8, gzipped if asked; the path as a command line names it."""
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return str(path)


def parts_of(path: str) -> list[tuple[str, object, str]]:
    """What the reader yields for the file: (label, value, member) of each part."""
    return [(part.label, part.value, part.member) for part in inputs.read_parts(path)]


def other_record(index: int) -> dict[str, Any]:
    """A CloudTrail record of a call the remediator does not handle, as most records of a log file are."""
    return {
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "arn": f"arn:aws:sts::123456789012:assumed-role/ops/u{index % 50}"},
        "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "DescribeInstances",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"maxResults": 1000},
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "recipientAccountId": "123456789012",
    }


def log_file(path: Path, records: int) -> str:
    """A gzipped CloudTrail log file of that many records, written record by record."""
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write('{"Records": [')
        for index in range(records):
            out.write(("," if index else "") + json.dumps(other_record(index)))
        out.write("]}")
    return str(path)


# ---- the reader ----------------------------------------------------------------------------------------------


def test_a_cloudtrail_log_file_is_read_record_by_record_with_each_records_place(tmp_path: Path) -> None:
    path = write(tmp_path / "log.json", json.dumps({"Records": [{"eventName": "A"}, {"eventName": "B"}]}))
    assert parts_of(path) == [
        (f"{path}: Records[0]", {"eventName": "A"}, "Records"),
        (f"{path}: Records[1]", {"eventName": "B"}, "Records"),
    ]


def test_lookup_events_output_is_read_event_by_event_and_its_next_token_is_read_past(tmp_path: Path) -> None:
    text = json.dumps({"Events": [{"CloudTrailEvent": "{}"}, {"CloudTrailEvent": "[]"}], "NextToken": "abc"})
    path = write(tmp_path / "lookup.json", text)
    assert [(label, member) for label, _, member in parts_of(path)] == [
        (f"{path}: Events[0]", "Events"),
        (f"{path}: Events[1]", "Events"),
    ]


def test_a_top_level_array_is_read_element_by_element(tmp_path: Path) -> None:
    path = write(tmp_path / "list.json", json.dumps([{"eventName": "A"}, {"Records": []}, 7]))
    assert parts_of(path) == [
        (f"{path}: [0]", {"eventName": "A"}, ""),
        (f"{path}: [1]", {"Records": []}, ""),
        (f"{path}: [2]", 7, ""),
    ]


def test_json_lines_are_read_one_value_a_line_each_named_by_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "events.jsonl", '{"eventName": "A"}\n\n{"eventName": "B"}\n')
    assert parts_of(path) == [
        (f"{path}: line 1", {"eventName": "A"}, ""),
        (f"{path}: line 3", {"eventName": "B"}, ""),
    ]


def test_an_object_whose_array_is_not_its_first_member_is_read_whole(tmp_path: Path) -> None:
    data = {"NextToken": "abc", "Events": [{"CloudTrailEvent": "{}"}]}
    path = write(tmp_path / "sorted.json", json.dumps(data))
    assert parts_of(path) == [(path, data, "")]


@pytest.mark.parametrize(("name", "gzipped"), [("events.json", True), ("events.json.gz", False)])
def test_gzip_is_told_by_its_magic_bytes_not_by_the_file_name(name: str, gzipped: bool, tmp_path: Path) -> None:
    path = write(tmp_path / name, json.dumps({"Records": [{"eventName": "A"}]}), gzipped=gzipped)
    assert parts_of(path) == [(f"{path}: Records[0]", {"eventName": "A"}, "Records")]


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_utf8_byte_order_mark_is_skipped(gzipped: bool, tmp_path: Path) -> None:
    path = write(tmp_path / "bom.json", BOM + '{"eventName": "A"}', gzipped=gzipped)
    assert parts_of(path) == [(path, {"eventName": "A"}, "")]


def test_values_that_straddle_many_reads_are_read_whole_and_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reads of 3 characters: every number, string and object is cut somewhere.
    monkeypatch.setattr(inputs, "CHUNK", 3)
    records = [{"eventName": "A" * 50, "n": 1234567890, "f": -12.5e3, "ok": True, "none": None}] * 4
    path = write(tmp_path / "log.json", json.dumps({"Records": records}, indent=1))
    assert [value for _, value, _ in parts_of(path)] == records


def test_invalid_json_deep_in_a_file_is_named_by_its_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inputs, "CHUNK", 4)
    path = write(tmp_path / "events.jsonl", '{"eventName": "A"}\n{"eventName": "B"}\n{"eventName": }\n')
    with pytest.raises(CliError) as raised:
        parts_of(path)
    assert str(raised.value) == f"{path} is not valid JSON (Expecting value at line 3, column 15)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "is not valid JSON (Expecting value at line 1, column 1)"),
        ('{"Records": [{"eventName": "A"} {"eventName": "B"}]}', "Expecting ',' delimiter at line 1, column 33"),
        ('{"Records": []', "Expecting ',' delimiter at line 1, column 15"),
    ],
    ids=["empty", "a missing comma between records", "an unclosed object"],
)
def test_text_that_is_not_json_is_a_one_line_error_naming_where(text: str, expected: str, tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", text)
    with pytest.raises(CliError) as raised:
        parts_of(path)
    assert str(raised.value).startswith(f"{path} ")
    assert expected in str(raised.value)


def test_a_truncated_gzip_file_is_a_one_line_error(tmp_path: Path) -> None:
    whole = gzip.compress(json.dumps({"Records": [other_record(i) for i in range(200)]}).encode())
    path = tmp_path / "cut.json.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(CliError) as raised:
        parts_of(str(path))
    assert str(raised.value).startswith(f"{path}: cannot be read (")


def test_globs_are_expanded_in_order_and_each_name_is_checked_before_anything_is_read(tmp_path: Path) -> None:
    for name in ("b.json.gz", "a.json.gz", "c.txt"):
        write(tmp_path / name, "{}")
    assert inputs.expanded([str(tmp_path / "*.json.gz")]) == [str(tmp_path / "a.json.gz"), str(tmp_path / "b.json.gz")]
    with pytest.raises(CliError, match=r"\*.zip: matches no file$"):
        inputs.expanded([str(tmp_path / "a.json.gz"), str(tmp_path / "*.zip")])
    with pytest.raises(CliError, match=r"absent\.json: no such file$"):
        inputs.expanded([str(tmp_path / "absent.json")])
    with pytest.raises(CliError, match=r"is a directory, not an event file$"):
        inputs.expanded([str(tmp_path)])
    with pytest.raises(CliError, match="can be read only once"):
        inputs.expanded(["-", "-"])


def test_reading_a_50000_event_gzipped_log_file_takes_a_tenth_of_the_memory_json_load_takes(tmp_path: Path) -> None:
    path = log_file(tmp_path / "big.json.gz", 50_000)

    tracemalloc.start()
    try:
        count = sum(1 for _ in inputs.read_parts(path))
        streaming_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        with gzip.open(path, "rt", encoding="utf-8") as whole:
            loaded = len(json.load(whole)["Records"])
        loading_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert count == loaded == 50_000
    assert streaming_peak < loading_peak / 10
    # A bound of its own: a few reads' worth, whatever the file's size (json.load's peak is over 100 MB here).
    assert streaming_peak < 4 * 1024 * 1024


# ---- replay on each shape ------------------------------------------------------------------------------------


def opened_events(world: World, count: int) -> tuple[list[str], list[dict[str, Any]]]:
    """That many groups with SSH open to the world on embedded AWS, and the EventBridge events of the calls."""
    groups = [world.group(f"web-{index}") for index in range(count)]
    return groups, [world.open_event(group_id, [SSH_WORLD]) for group_id in groups]


Shape = Callable[[Sequence[dict[str, Any]]], str]
SHAPES: dict[str, tuple[int, Shape, bool]] = {
    "an EventBridge envelope": (1, lambda events: json.dumps(events[0]), False),
    "a bare CloudTrail record": (1, lambda events: json.dumps(events[0]["detail"]), False),
    "a Lambda invocation record": (1, lambda events: json.dumps(invocation_record(events[0])), False),
    "lookup-events output": (2, lambda events: json.dumps(lookup_events_output([e["detail"] for e in events])), False),
    "receive-message output of both formats": (
        2,
        lambda events: json.dumps(received_messages([events[0], invocation_record(events[1])])),
        False,
    ),
    "a CloudTrail log file": (2, lambda events: json.dumps({"Records": [e["detail"] for e in events]}), False),
    "a gzipped CloudTrail log file": (
        2,
        lambda events: json.dumps({"Records": [e["detail"] for e in events]}),
        True,
    ),
    "a JSON array of an envelope and a log file": (
        2,
        lambda events: json.dumps([events[0], {"Records": [events[1]["detail"]]}]),
        False,
    ),
    "JSON Lines": (3, lambda events: "\n".join(json.dumps(e) for e in events) + "\n", False),
    "a file with a UTF-8 BOM": (1, lambda events: BOM + json.dumps(events[0], indent=2), False),
}


@pytest.mark.parametrize(("count", "shape", "gzipped"), SHAPES.values(), ids=SHAPES)
def test_replay_closes_the_rule_of_every_event_of_each_input_shape(
    count: int, shape: Shape, gzipped: bool, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    groups, events = opened_events(world, count)
    path = write(tmp_path / "events.json", shape(events), gzipped=gzipped)

    status = main(["replay", path])

    out = capsys.readouterr().out
    assert status == 0
    assert all(world.ingress(group_id) == set() for group_id in groups)
    noun = "event" if count == 1 else "events"
    assert out.endswith(f"\n{count} {noun}: {count} handled, 0 failed\n")


def test_several_files_and_a_glob_are_replayed_in_turn(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    groups, events = opened_events(world, 3)
    single = write(tmp_path / "event.json", json.dumps(events[0]))
    (tmp_path / "logs").mkdir()
    for index, event in enumerate(events[1:]):
        write(tmp_path / "logs" / f"{index}.json.gz", json.dumps({"Records": [event["detail"]]}), gzipped=True)

    status = main(["replay", single, str(tmp_path / "logs" / "*.json.gz"), "--json"])

    summaries = json.loads(capsys.readouterr().out)
    assert status == 0
    assert [summary["group_id"] for summary in summaries] == groups
    assert all(world.ingress(group_id) == set() for group_id in groups)


def test_gzipped_standard_input_is_read(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    groups, events = opened_events(world, 1)
    piped = gzip.compress(json.dumps({"Records": [events[0]["detail"]]}).encode("utf-8"))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(piped)))

    assert main(["replay", "-"]) == 0
    assert world.ingress(groups[0]) == set()
    assert capsys.readouterr().out.endswith("\n1 event: 1 handled, 0 failed\n")


def test_a_log_file_of_more_than_a_thousand_events_is_replayed_as_a_stream_and_counted(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    groups, events = opened_events(world, 2)
    records = [other_record(index) for index in range(1_500)]
    records[3], records[1_400] = events[0]["detail"], events[1]["detail"]
    path = write(tmp_path / "log.json.gz", json.dumps({"Records": records}), gzipped=True)

    status = main(["replay", path])

    out = capsys.readouterr().out
    assert status == 0
    assert all(world.ingress(group_id) == set() for group_id in groups)
    assert out.count(": remediated") == 2
    assert out.endswith("\n1500 events: 1500 handled, 0 failed\n")


def jsonl_with_bad_region(tmp_path: Path, events: Sequence[dict[str, Any]]) -> str:
    """JSON Lines of the events with, as the third line, one whose region is not a region name."""
    bad = json.loads(json.dumps(events[0]))
    bad["detail"]["awsRegion"] = "EU_WEST"
    lines = [events[0], events[1], bad, events[2]]
    return write(tmp_path / "events.jsonl", "\n".join(json.dumps(e) for e in lines) + "\n")


def test_in_a_stream_a_bad_event_is_one_failed_event_and_those_around_it_are_acted_on(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(replay, "ALL_FIRST", 1)
    groups, events = opened_events(world, 3)
    path = jsonl_with_bad_region(tmp_path, events)

    status = main(["replay", path])

    captured = capsys.readouterr()
    assert status == 1
    assert all(world.ingress(group_id) == set() for group_id in groups)
    assert captured.err == (
        f"error: {path}: line 3: the event's region is 'EU_WEST', not an AWS region name: "
        "give one like eu-west-1 or us-east-1\n"
    )
    assert captured.out.endswith("\n4 events: 3 handled, 1 failed\n")


def test_in_a_small_input_the_same_bad_event_stops_the_replay_before_any_event_is_acted_on(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    groups, events = opened_events(world, 3)
    path = jsonl_with_bad_region(tmp_path, events)

    status = main(["replay", path])

    captured = capsys.readouterr()
    assert status == 2
    assert all(world.ingress(group_id) == {("tcp", 22, 22, "0.0.0.0/0")} for group_id in groups)
    assert f"error: {path}: line 3: the event's region is 'EU_WEST'" in captured.err
    assert captured.out == ""


def test_in_a_stream_invalid_json_ends_that_file_and_the_next_file_is_still_replayed(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(replay, "ALL_FIRST", 1)
    groups, events = opened_events(world, 3)
    broken = write(tmp_path / "a.jsonl", f"{json.dumps(events[0])}\n{json.dumps(events[1])}\n{{oops\n")
    after = write(tmp_path / "b.json", json.dumps(events[2]))

    status = main(["replay", broken, after, "--json"])

    captured = capsys.readouterr()
    summaries = json.loads(captured.out)
    assert status == 1
    assert all(world.ingress(group_id) == set() for group_id in groups)
    assert [s["status"] for s in summaries] == ["remediated", "remediated", "failed", "remediated"]
    expected = f"{broken} is not valid JSON (Expecting property name enclosed in double quotes at line 3, column 2)"
    assert summaries[2]["error"] == expected
    assert captured.err.count("\n") == 1
