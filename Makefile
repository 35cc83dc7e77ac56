# runbook.ops — every target bootstraps what it needs on a fresh Debian 12 machine (as root).
#   make test                 the whole suite (what CI runs)
#   make lab-dr               the main job: a DR failover on the local podman lab, end to end
#   make lab-health           the health check runbook on the lab
#   make unit | integration | sanity | lint | molecule SCENARIO=health | bench
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

REPO := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV ?= $(REPO)/.venv
export PATH := $(VENV)/bin:$(PATH)
export CONTAINERS_CONF := $(REPO)/containers.conf
export ANSIBLE_COLLECTIONS_PATH := $(REPO)/.build/collections
export ANSIBLE_CONFIG := $(REPO)/ansible.cfg
export PYTHONDONTWRITEBYTECODE := 1
SCENARIO ?= health
PYTEST_ARGS ?=

.PHONY: help bootstrap test unit integration sanity lint changelog-lint molecule molecule-all \
        lab-image lab-up lab-down lab-health lab-dr bench clean mutants

help:
	@echo "make test          whole suite: sanity, lint, unit, integration, molecule (CI runs this)"
	@echo "make lab-dr        the main job: lab up, backup, destroy the primary DB, DR failover, RTO/RPO report"
	@echo "make lab-health    bring the podman lab up and run the health check runbook on it"
	@echo "make unit | integration | sanity | lint | molecule SCENARIO=<name> | molecule-all"
	@echo "make lab-up | lab-down | lab-image | bench"
	@echo "make mutants       mutation testing of the safety rules (mutmut over scripts/mutants.cfg; not part of make test)"

bootstrap:
	@$(REPO)/scripts/bootstrap.sh

test: bootstrap
	@start=$$(date +%s)
	# the lab image (Molecule) and the execution environment (the EE integration test) are mostly downloads and
	# disk: build them while sanity, lint and unit use the CPU; their inputs' hashes make the later builds no-ops
	mkdir -p $(REPO)/.build
	( $(REPO)/lab/image/build.sh && $(REPO)/scripts/ee.sh ) > $(REPO)/.build/prebuild.log 2>&1 &
	prebuild=$$!
	$(MAKE) --no-print-directory sanity
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit
	if ! wait $$prebuild; then
	  echo "Could not build the lab image or the execution environment (log: .build/prebuild.log):" >&2
	  tail -n 40 $(REPO)/.build/prebuild.log >&2
	  exit 1
	fi
	echo "images built beside sanity/lint/unit: $$(grep -E '^localhost/' $(REPO)/.build/prebuild.log | tr '\n' ' ')"
	$(MAKE) --no-print-directory integration
	$(MAKE) --no-print-directory molecule-all
	echo "make test: all suites passed in $$(( $$(date +%s) - start )) s"

unit: bootstrap
	cd $(REPO) && python -m pytest -q -n 2 tests/unit $(PYTEST_ARGS)

integration: bootstrap
	cd $(REPO) && python -m pytest -q -n 2 --dist loadfile --durations=25 tests/integration $(PYTEST_ARGS)

sanity: bootstrap
	$(REPO)/scripts/sanity.sh

lint: bootstrap changelog-lint
	cd $(REPO) && $(REPO)/scripts/lint.sh

changelog-lint: bootstrap
	cd $(REPO) && antsibull-changelog lint

lab-image: bootstrap
	$(REPO)/lab/image/build.sh

molecule: bootstrap lab-image
	cd $(REPO) && molecule test -s $(SCENARIO)

molecule-all: bootstrap lab-image
	$(REPO)/scripts/molecule-all.sh

lab-up: bootstrap lab-image
	cd $(REPO) && ansible-playbook lab/up.yml

lab-down: bootstrap
	cd $(REPO) && ansible-playbook lab/down.yml

lab-health: lab-up
	cd $(REPO)
	rc=0; ansible-playbook -i inventories/lab runbook.ops.health_check || rc=$$?
	echo; cat "$${RUNBOOK_REPORT_DIR:-$(REPO)/reports}/health.md"
	exit $$rc

lab-dr: bootstrap lab-image
	$(REPO)/scripts/lab-dr.sh

bench: bootstrap
	cd $(REPO) && for b in bench/*/run.sh; do echo "==> $$b"; bash $$b; done

# the execution environment AWX runs jobs in (execution-environment.yml), tagged by a hash of its inputs
.PHONY: ee
ee: bootstrap
	$(REPO)/scripts/ee.sh

# mutation testing of the safety rules (mutmut, installed on demand from requirements-mutants.txt; not in make test)
mutants: bootstrap
	$(REPO)/scripts/mutants.sh

clean:
	rm -rf $(REPO)/.build $(REPO)/tests/output $(REPO)/reports
