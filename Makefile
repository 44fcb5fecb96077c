# Two commands a user needs: `make figures` and `make test`.
# Both create .venv (plain venv + pip, pinned in pyproject.toml) when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PROFILE ?= paper
CORES  ?= 2
STAMP  := $(VENV)/.installed

.PHONY: figures test bench clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

figures: $(STAMP)
	OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/snakemake --cores $(CORES) --configfile workflow/config/$(PROFILE).yaml --rerun-triggers mtime params input code --keep-going --rerun-incomplete

test: $(STAMP)
	OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m policy_distillation.bench exact --mdps 1000
	$(BIN)/python -m policy_distillation.bench teachers --mdps 1000
	$(BIN)/python -m policy_distillation.bench distill

clean-venv:
	rm -rf $(VENV)
