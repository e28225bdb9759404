# The two commands a newcomer needs:  make demo   and   make test   (see README.md).
.PHONY: setup demo test bench lint

setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

test: setup
	bash scripts/test.sh

lint: setup
	.venv/bin/ruff check .

bench: setup
	bash bench/run.sh
