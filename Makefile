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

## test: the README's test command: the parallel lane on four workers, then the `serial` lane
## (the tests that assert on wall time, latency or rate-limit answers) alone
test:
	env -u NO_COLOR -u TEXTUAL_THEME python -m pytest -q -n 4 --dist loadfile -m "not serial" && env -u NO_COLOR -u TEXTUAL_THEME python -m pytest -q -m serial

## format: apply ruff's safe lint fixes, then format (in this order: a fix such as UP017's
## shorter `UTC` can change how a line is formatted)
format:
	ruff check --fix .
	ruff format .
