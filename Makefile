# The README's two commands are `make demo` and `make test`.
.PHONY: install demo test lint unit integration bench

install:
	./scripts/install.sh

demo: install
	./scripts/demo.sh

lint:
	ruff check .
	mypy loadgen whisperlive exporters stack test_audio
	hadolint whisperlive/Dockerfile whisperlive/Dockerfile.cpu

unit:
	python3 -m pytest tests/unit -q

integration:
	python3 -m pytest tests/integration -q

test: install lint
	python3 -m pytest tests -q -ra --durations=15

# Benchmarks (docs/PERFORMANCE.md): 15 minutes at most, pinned to cores 0 and 1; never part of CI.
bench:
	python3 -m pip install -q --disable-pip-version-check 'uvloop>=0.19' 'picows>=1.0' 'websocket-client>=1.6'
	python3 -m bench.run_all
