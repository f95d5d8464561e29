# One entry point for set-up, tests, the demo, benchmarks and CDK; every target creates .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two levels of set-up: the demo's (the package's dependencies and moto) and everything (CDK, linters, tests).
DEMO_STAMP := $(VENV)/.demo-installed
STAMP := $(VENV)/.installed
# The CDK CLI, pinned, through npx so that no global install is needed.
CDK := npx --yes aws-cdk@2.1148.1
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: help venv test lint typecheck unit demo bench synth diff deploy synth-org deploy-org clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

venv: $(STAMP) ## set up .venv with everything (CDK, linters, tests)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(DEMO_STAMP): requirements.txt requirements-demo.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-demo.txt
	@touch $(DEMO_STAMP)

$(STAMP): requirements.txt requirements-demo.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP) $(DEMO_STAMP)

lint: venv ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv ## mypy --strict
	$(BIN)/mypy

unit: venv ## the test suite (pytest)
	$(BIN)/pytest -q

test: lint typecheck unit ## lint, type checks and the whole test suite (what CI runs)

demo: $(DEMO_STAMP) ## the remediator at work on embedded AWS (sets up only what the demo needs)
	$(BIN)/python -m remediator demo

bench: venv ## the benchmarks against Cloud Custodian, into bench/RESULTS.md
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	$(BIN)/python -m bench

synth: venv ## cdk synth (CDK_ARGS="-c key=value ...")
	$(CDK) synth --app "$(BIN)/python app.py" $(CDK_ARGS)

diff: venv ## cdk diff against the deployed stacks
	$(CDK) diff --app "$(BIN)/python app.py" $(CDK_ARGS)

deploy: venv ## cdk deploy, per account and region
	$(CDK) deploy --app "$(BIN)/python app.py" --all $(CDK_ARGS)

# The organisation stacks by name: without org_units in context no stack matches, so nothing is deployed.
ORG_STACKS := "SgRemediatorAssets-*" SgRemediatorOrg

synth-org: venv ## cdk synth of the organisation stacks (org_units, org_id, regions; docs/organization.md)
	$(CDK) synth --app "$(BIN)/python app.py" $(CDK_ARGS) $(ORG_STACKS)

deploy-org: venv ## cdk deploy of the StackSet to the whole organisation (docs/organization.md)
	$(CDK) deploy --app "$(BIN)/python app.py" $(CDK_ARGS) $(ORG_STACKS)

clean: ## remove .venv and the caches
	rm -rf $(VENV) cdk.out .mypy_cache .ruff_cache .pytest_cache .hypothesis
