# Two commands set up a fresh machine: `make demo` (the main job on the bundled samples) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench samples clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,web,cloud]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bgflow run samples --out out/demo
	@echo "Results in out/demo (open out/demo/*/final.png)"

test: $(STAMP)
	HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

$(VENV)/.bench: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,web,cloud,bench]'
	touch $(VENV)/.bench

# Speed (seed photos when ../shared/samples/seed exists, else samples/), then quality against the old method.
bench: $(VENV)/.bench
	$(BIN)/python bench/run.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/quality.py --generated

samples: $(STAMP)
	$(BIN)/python -m pipeline.synthetic samples --count 6 --seed 7

clean:
	rm -rf $(VENV) out
