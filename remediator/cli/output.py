"""What every command prints with: the one-line error of bad input, JSON, and one-line AWS messages."""

from __future__ import annotations

import argparse
import json
import re
import socket
import textwrap
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    EndpointResolutionError,
    InvalidEndpointConfigurationError,
    InvalidRegionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ProxyConnectionError,
    SSLError,
    SSOError,
    TokenRetrievalError,
)

# What AWS names regions with: eu-west-1, us-gov-west-1, ap-southeast-4 (not an availability zone, eu-west-1a).
REGION_NAME = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
REGION_EXAMPLE = "like eu-west-1 or us-east-1"
# botocore's ValueError for an endpoint URL it cannot use (AWS_ENDPOINT_URL=localhost:5000, a URL with a space).
INVALID_ENDPOINT = "Invalid endpoint: "


class CliError(Exception):
    """A problem with the user's input, shown as one line and exit status 2."""


def one_line(error: BaseException) -> str:
    """The error's text on one line, as a terminal shows it."""
    return " ".join(str(error).split())


def print_json(data: Any) -> None:
    """Print `data` as indented JSON (values JSON does not know are written as text)."""
    print(json.dumps(data, indent=2, default=str))


class JsonList:
    """A JSON list printed element by element as each is known, flushed; the same text as print_json of the list."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, item: Any) -> None:
        """Print one more element of the list (the opening bracket before the first)."""
        text = textwrap.indent(json.dumps(item, indent=2, default=str), "  ")
        print("[\n" + text if self.count == 0 else ",\n" + text, end="", flush=True)
        self.count += 1

    def close(self) -> None:
        """End the list (an empty one is `[]`)."""
        print("\n]" if self.count else "[]", flush=True)


def is_region_name(text: str) -> bool:
    """Whether the text is written as AWS writes region names (eu-west-1), not an availability zone or a typo."""
    return REGION_NAME.fullmatch(text) is not None


def region_name(text: str) -> str:
    """An argparse type: the text when it is a region name like eu-west-1, else a usage error."""
    if not is_region_name(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an AWS region name: give one {REGION_EXAMPLE}")
    return text


def checked_region(region: str, source: str) -> str:
    """The region, or a CliError naming where it came from when it is not a region name."""
    if not is_region_name(region):
        raise CliError(f"{source} is {region!r}, not an AWS region name: give one {REGION_EXAMPLE}")
    return region


def is_aws_error(error: BaseException) -> bool:
    """Whether the error is AWS's answer or botocore's (its setup: credentials, region, endpoint, connection)."""
    if isinstance(error, ClientError | BotoCoreError):
        return True
    return isinstance(error, ValueError) and str(error).startswith(INVALID_ENDPOINT)


def shown_url(url: object) -> str:
    """An endpoint URL as people write it: without the bare `/` path botocore requests."""
    text = str(url)
    return text[:-1] if urlsplit(text).path == "/" else text


def connection_failure(error: BaseException) -> str:
    """Why a connection could not be made, in a few words: refused, host not found, or the socket's own words."""
    cause: BaseException | None = error
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror) or type(cause).__name__ == "NameResolutionError":
            return "host not found"
        cause = cause.__cause__ or cause.__context__
    return one_line(error)


def endpoint_message(url: str) -> str:
    """What is wrong with an endpoint URL botocore refused, and how it would be written."""
    if "://" not in url:
        return (
            f"endpoint URL {url!r} has no scheme: write it as http://{url} (or https://{url}) "
            "in AWS_ENDPOINT_URL (or scan's --endpoint-url)"
        )
    return f"endpoint URL {url!r} is not a valid URL: write it like http://127.0.0.1:5000"


def connection_message(error: EndpointConnectionError | ConnectTimeoutError) -> str:
    """The one line of an endpoint that could not be reached: where, why, and what to check."""
    url = shown_url(error.kwargs.get("endpoint_url", "the endpoint"))
    if isinstance(error, ConnectTimeoutError):
        return f"cannot connect to {url} (timed out): is the endpoint right and reachable from here?"
    reason = connection_failure(error.kwargs.get("error") or error)
    if reason == "host not found":
        return f"cannot connect to {url} (host not found): is the region or AWS_ENDPOINT_URL right?"
    return f"cannot connect to {url} ({reason}): is the endpoint right and up?"


def aws_error_message(error: BaseException) -> tuple[str, int]:
    """The one-line message of an AWS or botocore error and its exit status: 1 for AWS's answer, 2 for the setup."""
    setup: str | None = None
    if isinstance(error, ClientError):
        return f"AWS said: {one_line(error)}", 1
    if isinstance(error, NoCredentialsError):
        setup = "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    elif isinstance(error, PartialCredentialsError):
        setup = (
            f"incomplete AWS credentials: {error.kwargs.get('provider')} gives no {error.kwargs.get('cred_var')}: "
            "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
        )
    elif isinstance(error, CredentialRetrievalError | TokenRetrievalError | SSOError):
        setup = f"cannot get AWS credentials ({one_line(error)}): check AWS_PROFILE, or run `aws sso login`"
    elif isinstance(error, ProfileNotFound):
        setup = f"no AWS profile {error.kwargs.get('profile')!r}: `aws configure list-profiles` lists the profiles"
    elif isinstance(error, InvalidRegionError):
        region = error.kwargs.get("region_name")
        setup = (
            f"{region!r} is not an AWS region name: give one {REGION_EXAMPLE} "
            "(--region, AWS_DEFAULT_REGION or the profile's region)"
        )
    elif isinstance(error, NoRegionError):
        setup = "no AWS region: pass --region, or set AWS_DEFAULT_REGION or the profile's region"
    elif isinstance(error, EndpointResolutionError | InvalidEndpointConfigurationError):
        setup = f"cannot build the AWS endpoint ({one_line(error)}): check the region and AWS_ENDPOINT_URL"
    elif isinstance(error, SSLError):
        setup = f"TLS failed ({one_line(error)}): check AWS_CA_BUNDLE or the endpoint's certificate"
    elif isinstance(error, ProxyConnectionError):
        setup = f"cannot connect through the proxy ({one_line(error)}): check HTTPS_PROXY and HTTP_PROXY"
    elif isinstance(error, EndpointConnectionError | ConnectTimeoutError):
        setup = connection_message(error)
    elif isinstance(error, ValueError) and str(error).startswith(INVALID_ENDPOINT):
        setup = endpoint_message(str(error).removeprefix(INVALID_ENDPOINT))
    if setup is not None:
        return setup, 2
    # Another botocore error (a read timeout, a response it could not parse): not AWS's words, and not the setup's.
    return one_line(error), 1
