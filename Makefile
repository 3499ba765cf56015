# Every target that runs code depends on the venv; `make install` builds it from pyproject.toml.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The floor controller compiled with mypyc (scheduler/control/native.py): rebuilt when its source
# changed. A failed build prints one line and the pure Python runs; it never fails a target.
NATIVE := scheduler/control/__native__/source.sha256

.PHONY: install demo test bench clean

install: $(STAMP) $(NATIVE)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NATIVE): scheduler/control/controller.py scheduler/control/native.py $(STAMP)
	$(BIN)/python -c 'from scheduler.control import native; native.main([])'

demo: $(STAMP) $(NATIVE)
	$(BIN)/gwf demo

# The suite runs the pure controller (GWF_PURE=1): some tests patch a controller's methods or
# attributes, which a compiled class refuses; tests/scheduler/test_control_native.py loads the
# build beside it and checks both take the same decisions.
test: $(STAMP) $(NATIVE)
	GWF_PURE=1 $(BIN)/python -m pytest -n 2 -m "not slow" -rfE

bench: $(STAMP) $(NATIVE)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info scheduler/control/__native__
