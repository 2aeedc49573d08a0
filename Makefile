# The README's two commands are `make run` and `make test`; both set up what is missing.
.PHONY: run test setup bench demo deb mo clean

setup:
	@packaging/bootstrap.sh

run: setup
	.venv/bin/trayd run

test: setup
	.venv/bin/python -m pytest tests

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
