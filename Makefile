# Two commands set up a fresh machine: `make demo` (the main job on the bundled samples) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE := $(VENV)/.base
FULL := $(VENV)/.full
BENCH := $(VENV)/.bench

.PHONY: demo test bench clean

$(BASE): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,web]'
	touch $(BASE)

# The tests also exercise the model backends (tiny models on the CPU), the OpenAI describer and the Modal app.
# torch is pinned to the CPU build first: a plain requirement would pull a multi-GB CUDA build.
$(FULL): $(BASE)
	$(BIN)/pip install -q 'torch==2.13.0'
	$(BIN)/pip install -q -e '.[dev,web,cloud,ml]'
	touch $(FULL)

$(BENCH): $(FULL)
	$(BIN)/pip install -q -e '.[dev,web,cloud,ml,bench]'
	touch $(BENCH)

demo: $(BASE)
	$(BIN)/bgflow run samples --out out/demo
	@echo "Results in out/demo (open out/demo/*/final.png)"

test: $(FULL)
	HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

# Speed (seed photos when ../shared/samples/seed exists, else samples/), then quality against the old method.
bench: $(BENCH)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/quality.py --generated
	$(BIN)/python bench/events.py
	$(BIN)/python bench/workers.py
	$(BIN)/python bench/scale.py --images 10
	$(BIN)/python bench/corpus.py
	$(BIN)/python bench/peak_memory.py

clean:
	rm -rf $(VENV) out
