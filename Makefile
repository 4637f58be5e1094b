# Everything a fresh machine needs: `make demo` and `make test` create the venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test graphviz bench docs clean

$(STAMP): pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt -e '.[trace]'
	touch $(STAMP)

# The SVG picture of the runtime pass needs Graphviz's `dot`; install it when missing.
graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  echo "installing graphviz (dot)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null) \
	  || echo "warning: could not install graphviz; SVG tests will be skipped"; }

demo: $(STAMP)
	@echo "== graphlint examples/incident/train.py (static pass)"
	-@$(BIN)/graphlint examples/incident/train.py
	@echo "== graphlint trace examples/incident/train.py (runtime pass)"
	-@$(BIN)/graphlint trace examples/incident/train.py

test: $(STAMP) graphviz
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

bench: $(STAMP)
	$(BIN)/python benchmarks/static_speed.py
	$(BIN)/python benchmarks/trace_overhead.py

# docs/rules/ is generated from rules/*.md; the test suite fails when it is out of date.
docs: $(STAMP)
	$(BIN)/python docs/generate_rule_docs.py

clean:
	rm -rf $(VENV) .pytest_cache .graphlint_cache
