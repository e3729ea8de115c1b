# The two commands of the quick start, on a fresh machine with Python 3.11+.
#   make demo   runs examples/batch.jsonl end to end (Redis started for you when none
#               answers; the built-in mock upstream when RESPQ_API_KEY is not set)
#   make test   runs the test suite (the same `pytest -q` that .ci/run runs; LiteLLM's
#               proxy, a third-party upstream for one test, goes into .venv-litellm)

VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test install

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	scripts/vendor-assets --optional
	touch $@

install: $(VENV)/.installed

demo: install
	@scripts/ensure-redis --install-only
	@mkdir -p out
	@if [ -z "$$RESPQ_API_KEY" ]; then \
	  echo "RESPQ_API_KEY is not set: running against the built-in mock upstream (--mock)"; \
	  $(VENV)/bin/respq run examples/batch.jsonl -o out/results.jsonl --errors out/errors.jsonl --mock; \
	else \
	  echo "RESPQ_API_KEY is set: sending to $${RESPQ_BASE_URL:-https://api.crun.ai/api/v1}"; \
	  $(VENV)/bin/respq run examples/batch.jsonl -o out/results.jsonl --errors out/errors.jsonl; \
	fi; status=$$?; \
	echo "results: out/results.jsonl, errors: out/errors.jsonl (exit $$status: 1 means some requests failed, as the example's gpt-typo line does)"

.venv-litellm/.installed:
	python3 -m venv .venv-litellm
	.venv-litellm/bin/python -m pip install -q --upgrade pip
	.venv-litellm/bin/python -m pip install -q 'litellm[proxy]==1.108.7'
	touch $@

test: install .venv-litellm/.installed
	scripts/ensure-redis
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" pytest -q
