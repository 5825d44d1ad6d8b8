# make run    trains, evaluates and plots the paper's K=10 sinusoid MAML
# make test   runs the test suite
# Both create .venv from requirements.txt with a Python 3.7 when it is missing.
VENV := .venv
PY := $(VENV)/bin/python
PYENV_ROOT ?= $(HOME)/.pyenv

.PHONY: run test benchmark figures redraw reproduce study ceiling
run: $(VENV)/.installed
	$(PY) Main.py

# Two workers, one test file each (module fixtures are built once).
test: $(VENV)/.installed
	$(PY) -m pytest -q -n 2 --dist loadfile tests

benchmark: $(VENV)/.installed
	$(PY) Main.py --mode=benchmark

# Every README figure and table, from the shipped checkpoints in logs/paper and logs/robustness.
figures: $(VENV)/.installed
	$(PY) Main.py --mode=report

# Every figure and README section again from the results files of the last `make figures` (seconds);
# `make redraw FIGURE=paper_fig3` redraws that figure alone (FIGURE=a,b for several).
redraw: $(VENV)/.installed
	$(PY) Main.py --mode=redraw $(if $(FIGURE),--figure=$(FIGURE))

# Retrains every model (paper and robustness study) into logs/retrained, then regenerates from it
# into logs/retrained/Img and logs/retrained/README.md (the shipped Img/ and README.md stay).
reproduce: $(VENV)/.installed
	$(PY) Main.py --mode=reproduce --logdir=logs/retrained

# Python 3.7: python3.7 on PATH if it runs (a pyenv shim may not), else pyenv's.
$(VENV)/.installed: requirements.txt
	@py=""; for c in python3.7 $$(ls -d $(PYENV_ROOT)/versions/3.7*/bin/python3.7 2>/dev/null | sort -V -r); do \
	  if "$$c" -c 'import sys; assert sys.version_info[:2] == (3, 7)' >/dev/null 2>&1; then py="$$c"; break; fi; \
	done; \
	if [ -z "$$py" ]; then echo "error: no Python 3.7 found (looked for python3.7 on PATH, then in $(PYENV_ROOT)/versions); install one, e.g. 'pyenv install 3.7.16'" >&2; exit 1; fi; \
	echo "creating $(VENV) with $$py"; \
	"$$py" -m venv $(VENV) && $(PY) -m pip install -q -r requirements.txt
	@touch $@

# Trains every robustness-study model not trained yet, in groups (then: make figures).
study: $(VENV)/.installed
	$(PY) Main.py --mode=study

# The per-task regression ceiling of the shape points (one network fit per task; a few minutes).
ceiling: $(VENV)/.installed
	$(PY) Main.py --mode=ceiling
