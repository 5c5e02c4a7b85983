# Developer entry points; .ci/run runs the same gates and tests (keep the two in step).
.PHONY: check lint test format

## check: every gate of .ci/run, then the test suite
check: lint test

## lint: formatting, lint rules, types and the import contracts, without changing a file
lint:
	ruff format --check .
	ruff check .
	mypy
	lint-imports

## test: the README's test command
test:
	env -u NO_COLOR -u TEXTUAL_THEME python -m pytest -q

## format: rewrite the tree the way `ruff format --check` wants it, and apply safe lint fixes
format:
	ruff format .
	ruff check --fix .
