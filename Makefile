# One entry point for set-up, tests, the demo, benchmarks and CDK; every target creates .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CDK CLI, pinned, through npx so that no global install is needed.
CDK := npx --yes aws-cdk@2.1148.1
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: venv test lint typecheck unit demo bench synth diff deploy clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -q

test: lint typecheck unit

demo: venv
	$(BIN)/python -m remediator demo

bench: venv
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	$(BIN)/python -m bench

synth: venv
	$(CDK) synth --app "$(BIN)/python app.py" $(CDK_ARGS)

diff: venv
	$(CDK) diff --app "$(BIN)/python app.py" $(CDK_ARGS)

deploy: venv
	$(CDK) deploy --app "$(BIN)/python app.py" --all $(CDK_ARGS)

clean:
	rm -rf $(VENV) cdk.out .mypy_cache .ruff_cache .pytest_cache .hypothesis
