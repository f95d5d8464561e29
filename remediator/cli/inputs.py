"""The inputs of `replay`: files, globs or standard input, gzipped or not, read as a stream of JSON values."""

from __future__ import annotations

import glob
import gzip
import io
import json
import re
import sys
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO

from remediator.cli.output import CliError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

# Characters read at a time; a value longer than that is read in ever larger reads (linear time, not quadratic).
CHUNK = 1 << 16
GZIP_MAGIC = b"\x1f\x8b"
WHITESPACE = re.compile(r"[ \t\n\r]*")
# An object whose first member is one of these arrays is read element by element: a CloudTrail log file,
# `aws cloudtrail lookup-events` output, `aws sqs receive-message` output.
STREAMED_ARRAY = re.compile(r'\{[ \t\n\r]*"(Records|Events|Messages)"[ \t\n\r]*:[ \t\n\r]*\[')
# How far ahead the first member's name is looked for.
LOOKAHEAD = 4096
# Where a JSON error this close to the end of what was read may only mean that the value goes on.
NEAR_END = 16
STANDARD_INPUT = "-"


@dataclass(frozen=True, slots=True)
class Part:
    """One JSON value of an input: where it is, the value, and the array it is an element of ("" for none)."""

    # member: "Records", "Events" or "Messages" for an element of that array of a top-level object, else "".

    label: str
    value: object
    member: str


def shown(name: str) -> str:
    """The input as messages name it."""
    return "standard input" if name == STANDARD_INPUT else name


def expanded(names: Sequence[str]) -> list[str]:
    """The inputs named: each file as it is, each glob's matches in order, `-` for standard input; checked first."""
    found: list[str] = []
    for name in names:
        if name == STANDARD_INPUT:
            found.append(name)
            continue
        path = Path(name)
        if not path.exists() and glob.has_magic(name):
            matches = sorted(glob.glob(name))
            if not matches:
                raise CliError(f"{name}: matches no file")
            found += [match for match in matches if not Path(match).is_dir()]
            continue
        if not path.exists():
            raise CliError(f"{name}: no such file")
        if path.is_dir():
            raise CliError(f"{name}: is a directory, not an event file")
        found.append(name)
    if found.count(STANDARD_INPUT) > 1:
        raise CliError("standard input (-) can be read only once")
    return found


class Prefixed(io.RawIOBase):
    """A binary stream with bytes already read from it put back in front (standard input cannot seek)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self.head = head
        self.rest = rest

    def readable(self) -> bool:
        """Always: it is read from."""
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Read into the buffer: the put-back bytes first, then the stream's."""
        target = memoryview(buffer).cast("B")
        if self.head:
            count = min(len(target), len(self.head))
            target[:count] = self.head[:count]
            self.head = self.head[count:]
            return count
        data = self.rest.read(len(target))
        target[: len(data)] = data
        return len(data)


def text_of(binary: BinaryIO) -> IO[str]:
    """The stream as UTF-8 text, gunzipped when it starts with gzip's magic bytes; a leading BOM dropped."""
    head = binary.read(len(GZIP_MAGIC))
    stream = io.BufferedReader(Prefixed(head, binary))
    if head == GZIP_MAGIC:
        return io.TextIOWrapper(gzip.GzipFile(fileobj=stream, mode="rb"), encoding="utf-8-sig", newline="")
    return io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")


def opened(name: str) -> BinaryIO:
    """The input's bytes: the file, or standard input for `-`; a CliError when it cannot be opened."""
    if name == STANDARD_INPUT:
        return sys.stdin.buffer
    try:
        return Path(name).open("rb")
    except FileNotFoundError:
        raise CliError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"{name}: is a directory, not an event file") from None
    except OSError as error:
        raise CliError(f"{name}: cannot be read ({error.strerror})") from None


def read_parts(name: str) -> Iterator[Part]:
    """Each JSON value of the input, one at a time: see JsonStream.parts."""
    binary = opened(name)
    try:
        yield from JsonStream(text_of(binary), shown(name)).parts()
    finally:
        if name != STANDARD_INPUT:
            binary.close()


class JsonStream:
    """An incremental JSON reader over a text stream: one element of a top-level array at a time."""

    # Each value is read whole by json.JSONDecoder.raw_decode over a buffer that holds little more than that
    # value, so that memory stays flat on a file of any number of events.

    def __init__(self, text: IO[str], where: str) -> None:
        self.text = text
        self.where = where
        self.decoder = json.JSONDecoder()
        self.buffer = ""
        self.pos = 0
        self.eof = False
        # Where the buffer starts in the text, for error messages: lines before it, and columns on its first line.
        self.lines_dropped = 0
        self.columns_dropped = 0

    def fill(self, amount: int = CHUNK) -> bool:
        """Read more text after what is left of the buffer; False at the end of the text."""
        if self.eof:
            return False
        try:
            chunk = self.text.read(amount)
        except UnicodeDecodeError:
            raise CliError(f"{self.where}: not a UTF-8 text file") from None
        except (OSError, EOFError, zlib.error) as error:
            # A truncated or corrupt gzip stream, or a failing disk.
            raise CliError(f"{self.where}: cannot be read ({' '.join(str(error).split())})") from None
        if not chunk:
            self.eof = True
            return False
        dropped = self.buffer[: self.pos]
        newlines = dropped.count("\n")
        if newlines:
            self.lines_dropped += newlines
            self.columns_dropped = len(dropped) - dropped.rfind("\n") - 1
        else:
            self.columns_dropped += len(dropped)
        self.buffer = self.buffer[self.pos :] + chunk
        self.pos = 0
        return True

    def invalid(self, message: str, pos: int) -> CliError:
        """The error of text that is not JSON, at a position of the buffer, named by line and column as json does."""
        before = self.buffer[:pos]
        newlines = before.count("\n")
        line = self.lines_dropped + newlines + 1
        column = pos - before.rfind("\n") if newlines else self.columns_dropped + pos + 1
        return CliError(f"{self.where} is not valid JSON ({message} at line {line}, column {column})")

    def peek(self) -> str:
        """The next character that is not whitespace (not consumed), or "" at the end of the text."""
        while True:
            found = WHITESPACE.match(self.buffer, self.pos)
            self.pos = found.end() if found else self.pos
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self.fill():
                return ""

    def value(self) -> object:
        """The next whole JSON value, read on until it is complete."""
        if not self.peek():
            raise self.invalid("Expecting value", self.pos)
        amount = CHUNK
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as error:
                goes_on = len(self.buffer) - error.pos <= NEAR_END or error.msg.startswith("Unterminated string")
                if goes_on and self.fill(amount):
                    amount *= 2
                    continue
                raise self.invalid(error.msg, error.pos) from None
            # A number at the end of the buffer may have more digits to come; an object, array or string may not.
            if end == len(self.buffer) and not isinstance(value, dict | list | str) and self.fill(amount):
                amount *= 2
                continue
            self.pos = end
            return value

    def expect(self, char: str, message: str) -> None:
        """Consume the next character, which must be `char`."""
        if self.peek() != char:
            raise self.invalid(message, self.pos)
        self.pos += 1

    def elements(self, label: str, member: str) -> Iterator[Part]:
        """Each element of the array that starts at the buffer's position, one at a time."""
        self.expect("[", "Expecting '['")
        if self.peek() == "]":
            self.pos += 1
            return
        index = 0
        while True:
            value = self.value()
            yield Part(f"{label}: {member}[{index}]" if member else f"{label}: [{index}]", value, member)
            index += 1
            if self.peek() == "]":
                self.pos += 1
                return
            self.expect(",", "Expecting ',' delimiter")

    def rest_of_object(self) -> None:
        """Read past the members after a streamed array to the object's end (lookup-events' NextToken)."""
        while self.peek() != "}":
            self.expect(",", "Expecting ',' delimiter")
            if self.peek() != '"':
                raise self.invalid("Expecting property name enclosed in double quotes", self.pos)
            self.value()
            self.expect(":", "Expecting ':' delimiter")
            self.value()
        self.pos += 1

    def streamed_member(self) -> str | None:
        """The name of the array the object at the buffer's position starts with, if it is one read by element."""
        while len(self.buffer) - self.pos < LOOKAHEAD and self.fill():
            pass
        found = STREAMED_ARRAY.match(self.buffer, self.pos)
        if found is None:
            return None
        self.pos = found.end() - 1
        return found.group(1)

    def parts(self) -> Iterator[Part]:
        """Each value of the text: an element of a top-level array or of Records, Events or Messages, else whole."""
        # Several top-level values one after another are JSON Lines, each named by its line.
        count = 0
        while char := self.peek():
            count += 1
            line = self.lines_dropped + self.buffer.count("\n", 0, self.pos) + 1
            label = self.where if count == 1 else f"{self.where}: line {line}"
            if char == "[":
                yield from self.elements(label, "")
                continue
            member = self.streamed_member() if char == "{" else None
            if member is not None:
                yield from self.elements(label, member)
                self.rest_of_object()
                continue
            value = self.value()
            if count == 1 and self.peek():
                # More follows: JSON Lines, whose values are named by their line.
                label = f"{self.where}: line {line}"
            yield Part(label, value, "")
        if count == 0:
            raise self.invalid("Expecting value", self.pos)
