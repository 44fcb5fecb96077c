# Two commands a user needs: `make figures` and `make test`.
# Both create .venv (plain venv + pip, pinned in pyproject.toml) when missing.
#   make figures [PROFILE=quick] [TARGET=fig4] [CORES=4]   every figure of a profile (default: paper)
#   make figures EXECUTOR=slurm SLURM_ACCOUNT=acct [SLURM_PARTITION=part]   the same, every job a Slurm job
#   make report  [PROFILE=quick]                           the HTML report <output_root>/report.html
#   make atlas   [PROFILE=quick]                           the regime atlas (figures/atlas.md, about an hour)
#                                                          (EXECUTOR=slurm ... as for figures)
#   make tune REGIME=unroll_sgd [PROFILE=paper]            learning rates of one regime (figures/learning_rates/)
#   make tune REGIME=unroll_sgd METHODS="a b" MERGE=1       tune a and b only, added to the regime's existing output
#   make test                                              lint (ruff, snakefmt, snakemake --lint) + tests
#   make test-cluster                                      the tiny profile through a throwaway Slurm cluster
#                                                          (root: installs Slurm, MariaDB, munge with apt)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PROFILE ?= paper
TARGET ?=
CORES  ?=
EXECUTOR ?= local
SLURM_ACCOUNT ?=
SLURM_PARTITION ?=
STAMP  := $(VENV)/.installed
LAUNCH  = $(BIN)/python -m policy_distillation.launch --profile $(PROFILE) $(if $(CORES),--cores $(CORES)) \
	--executor $(EXECUTOR) $(if $(SLURM_ACCOUNT),--slurm-account $(SLURM_ACCOUNT)) \
	$(if $(SLURM_PARTITION),--slurm-partition $(SLURM_PARTITION))
THREADS1 = OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_NUM_THREADS=1

.PHONY: figures report atlas tune test test-cluster lint bench clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,cluster]'
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
	$(THREADS1) $(BIN)/python -m pytest

# Installs the Slurm packages it lacks (apt), starts slurmctld, slurmd, slurmdbd, MariaDB and munged
# from a temporary directory, runs tests/cluster (the tiny profile through the Slurm executor, compared
# with a local run; a failing job and the resume), then stops exactly the daemons it started.
test-cluster: $(STAMP)
	bash tests/cluster/slurm_cluster.sh install
	bash tests/cluster/slurm_cluster.sh run -- env $(THREADS1) $(BIN)/python -m pytest -p no:cacheprovider \
		tests/cluster

bench: $(STAMP)
	$(BIN)/python -m policy_distillation.bench exact --mdps 1000
	$(BIN)/python -m policy_distillation.bench teachers --mdps 1000
	$(BIN)/python -m policy_distillation.bench distill

clean-venv:
	rm -rf $(VENV)
