# mrirecon developer commands. `make demo` and `make test` work on a fresh clone (CPU torch pin).
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH  ?= torch==2.13.0

.PHONY: install dev demo test wheel-check data train-prior train-unet bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e .
	touch $@

$(VENV)/.dev: $(VENV)/.installed
	$(PIP) install -q pytest pandas requests runstats
	$(PIP) install -q --no-deps fastmri==0.3.0
	touch $@

install: $(VENV)/.installed
dev: $(VENV)/.dev

demo: $(VENV)/.installed
	$(VENV)/bin/mrirecon demo

test: $(VENV)/.dev
	$(PY) -m pytest tests

# build the wheel, install it non-editable in a fresh venv and use it from another directory
wheel-check: $(VENV)/.installed
	TORCH="$(TORCH)" bash .ci/wheel_check.sh

data: $(VENV)/.installed
	$(VENV)/bin/mrirecon data prepare --size 128

train-prior: data
	$(VENV)/bin/mrirecon train prior --threads 1 --out checkpoints/prior

train-unet: data
	$(VENV)/bin/mrirecon train unet --threads 1 --out checkpoints/unet

clean:
	rm -rf $(VENV) .pytest_cache
