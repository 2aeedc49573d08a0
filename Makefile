# The README's two commands are `make run` and `make test`; both set up what is missing.
.PHONY: docs run test setup bench demo deb mo clean test-debian13 shell-debian13 mutants

setup:
	@packaging/bootstrap.sh

run: setup
	.venv/bin/trayd run

# PYTEST_ARGS narrows the run, e.g. `make test PYTEST_ARGS=tests/test_doctor.py`.
PYTEST_ARGS ?= tests
test: setup
	.venv/bin/python -m pytest $(PYTEST_ARGS)

# The same `make test` in a fresh Debian 13 root (root only; built once, cached in
# /var/cache/trayd): `make test-debian13 PYTEST_ARGS="tests/test_x.py -x"`.
test-debian13:
	PYTEST_ARGS="$(PYTEST_ARGS)" packaging/debian13-root.sh test

shell-debian13:
	PYTEST_ARGS="$(PYTEST_ARGS)" packaging/debian13-root.sh shell

# Plant each known safety bug in a scratch copy; fails if a test does not catch one.
mutants: setup
	.venv/bin/python tests/mutants.py

# Rewrite the generated parts of docs/architecture.md (threads, components) from the code.
docs: setup
	.venv/bin/python packaging/architecture_doc.py --write

bench: setup
	.venv/bin/python -m benchmarks

# Debian package in dist/ (rebuilt only when its inputs changed; FORCE=1 rebuilds).
deb:
	packaging/build-deb.sh

# Try trayd without hardware: virtual ePass2003, agent + tray, management window
# (ARGS=--xvfb for a private X display).
demo: setup
	.venv/bin/python tests/demo.py $(ARGS)

mo:
	python3 packaging/compile_catalogues.py

clean:
	rm -rf build dist *.egg-info trayd/locale
