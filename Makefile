# The README's two commands are `make demo` and `make test`.
.PHONY: install demo test lint unit integration

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
	python3 -m pytest tests -q -ra
