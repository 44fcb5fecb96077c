# Two commands a user needs: `make figures` and `make test`.
# Both create .venv (plain venv + pip, pinned in pyproject.toml) when missing.
#   make figures [PROFILE=quick] [TARGET=fig4] [CORES=4]   every figure of a profile (default: paper)
#   make report  [PROFILE=quick]                           the HTML report <output_root>/report.html
#   make atlas   [PROFILE=quick]                           the regime atlas (figures/atlas.md, about an hour)
#   make tune REGIME=unroll_sgd [PROFILE=paper]            learning rates of one regime (figures/learning_rates/)
#   make tune REGIME=unroll_sgd METHODS="a b" MERGE=1       tune a and b only, added to the regime's existing output
#   make test                                              lint (ruff, snakefmt, snakemake --lint) + tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PROFILE ?= paper
TARGET ?=
CORES  ?=
STAMP  := $(VENV)/.installed
LAUNCH  = $(BIN)/python -m policy_distillation.launch --profile $(PROFILE) $(if $(CORES),--cores $(CORES))

.PHONY: figures report atlas tune test lint bench clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

figures: $(STAMP)
	$(LAUNCH) $(TARGET)

report: $(STAMP)
	$(LAUNCH) --report

atlas: $(STAMP)
	$(LAUNCH) atlas

tune: $(STAMP)
	@test -n "$(REGIME)" || { echo "make tune: give REGIME=<name of a regime in the profile>"; exit 2; }
	$(BIN)/python -m policy_distillation.tuning --profile $(PROFILE) --regime $(REGIME) --jobs 2 \
		$(if $(METHODS),--methods $(METHODS)) $(if $(MERGE),--merge)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile workflow/rules

test: lint
	OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m policy_distillation.bench exact --mdps 1000
	$(BIN)/python -m policy_distillation.bench teachers --mdps 1000
	$(BIN)/python -m policy_distillation.bench distill

clean-venv:
	rm -rf $(VENV)
