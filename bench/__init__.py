"""Benchmark of the remediator against Cloud Custodian (c7n) on the same moto account and the same events.

`python -m bench` (or `make bench`) runs everything and writes bench/RESULTS.md. The modules here other than
__main__ and report run in two interpreters: the project's .venv for our handler, and a separate venv under
bench/.work/ for c7n, whose exact pins of boto3/botocore differ from ours. So they import nothing of either tool
at module level, only boto3 and moto, which both venvs have.
"""
