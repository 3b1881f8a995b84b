# The README's two commands are `make demo` and `make test`.
.PHONY: install demo test lint unit integration bench bench-long bench-whisperlive bench-sweep

install:
	./scripts/install.sh

demo: install
	./scripts/demo.sh

lint:
	ruff check .
	mypy loadgen whisperlive exporters stack test_audio
	lint-imports  # the layer contracts in pyproject.toml ([tool.importlinter], docs/ARCHITECTURE.md)
	hadolint whisperlive/Dockerfile whisperlive/Dockerfile.cpu loadgen/Dockerfile

unit:
	python3 -m pytest tests/unit -q

integration:
	python3 -m pytest tests/integration -q

test: install lint
	python3 -m pytest tests -q -ra --durations=15

# Benchmarks (docs/PERFORMANCE.md): 15 minutes at most, pinned to cores 0 and 1; never part of CI.
# Short ladders (streams per core up to 2,500 clients, the search at a knee of 40 only).
bench:
	python3 -m pip install -q --disable-pip-version-check 'websocket-client>=1.6'  # upstream's client; uvloop and picows are dependencies
	python3 -m bench.run_all

# The long ladders the headline figures come from (docs/PERFORMANCE.md): ours with picows and with
# websockets, 300 s each, the sink check, then the search at knees 40 and 64. About 20 minutes; not in CI.
BENCH_LONG_OUT := runs/bench/long-$(shell date -u +%Y%m%dT%H%M%SZ)
bench-long:
	python3 -m bench.streams_per_core --clients ours,ours-websockets --budget 300 --sink-check --out $(BENCH_LONG_OUT)/streams_per_core.json
	python3 -m bench.search_efficiency --knees 40,64 --out $(BENCH_LONG_OUT)/search_efficiency.json

# The WhisperLive-side figure (docs/PERFORMANCE.md): the local 3-replica tiny.en stack, single-model vs
# batch mode, by the demo's ramp. About 6 minutes, so not inside `make bench`'s 15; never part of CI.
bench-whisperlive:
	python3 -m bench.whisperlive_modes

# The sweep's warm start against independent searches (docs/PERFORMANCE.md, docs/SWEEP.md): one simulator
# matrix of 6 configurations swept cold and warm. About 6 minutes; never part of CI.
bench-sweep:
	python3 -m bench.sweep_warmstart
