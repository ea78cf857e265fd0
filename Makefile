# Local development and CI entry points. Everything here is idempotent.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
FILMSTUDIO := $(VENV)/bin/filmstudio
STAMP := $(VENV)/.installed
KAFKA_JARS := .build/kafka/libs/.resolved
APT_PACKAGES := openjdk-17-jre-headless maven postgresql ffmpeg espeak-ng libespeak-ng1 sox \
	fonts-noto-core fonts-dejavu-core acl chromium

.PHONY: help bootstrap system-packages stack test demo down lint

help:
	@echo "make bootstrap | stack | test | demo | down | lint"

bootstrap: system-packages $(STAMP) $(KAFKA_JARS) standins web k8s-tools

# The web studio's static export (web/out), served by the API at /; the browser tests drive it
# in Debian's chromium (installed above). Does nothing when the export is newer than its sources.
.PHONY: web
web:
	@deploy/local/web.sh

# The tests' stand-ins for services we cannot reach: Stripe's own stripe-mock (Go), Prism
# (npm) serving SendGrid's OpenAPI description and versitygw (Go), an S3 server that checks
# signatures. The scripts do nothing once installed.
.PHONY: standins
standins:
	@deploy/local/stripe-mock.sh
	@deploy/local/prism.sh
	@deploy/local/versitygw.sh

# helm and kubeconform (Go), with which tests/unit/test_manifests.py renders and validates the
# Helm chart (deploy/helm) offline. The script does nothing once they are installed.
.PHONY: k8s-tools
k8s-tools:
	@deploy/local/k8s-tools.sh

system-packages:
	@deploy/local/apt-packages.sh $(APT_PACKAGES)

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev,models]'
	touch $@

$(KAFKA_JARS): deploy/local/kafka/pom.xml | $(STAMP)
	$(FILMSTUDIO) stack jars

stack: bootstrap
	$(FILMSTUDIO) stack up

# pytest exits 5 when it collects nothing: an empty phase is not a failure, a missing folder is.
define pytest_phase
	$(PY) -m pytest $(1) || { rc=$$?; [ $$rc -eq 5 ] && echo "no tests in $(1)" || exit $$rc; }
endef

test: stack lint
	$(call pytest_phase,tests/unit)
	$(call pytest_phase,tests --ignore=tests/unit)

# The fault suite (minutes; not part of `test`): a private studio (own Kafka, PostgreSQL, ports
# and state dir) renders 5 productions while 100 kill -9 faults, a broker and a PostgreSQL
# restart land; exits non-zero unless every invariant held. A short version is tests/integration/test_chaos.py.
.PHONY: chaos
chaos: stack
	$(PY) -m bench.chaos --faults 100 --productions 5

demo: bootstrap
	$(FILMSTUDIO) up
	$(FILMSTUDIO) demo
	$(FILMSTUDIO) render examples/the-lamp.fountain -o out/the-lamp.mp4
	$(FILMSTUDIO) render examples/the-lamp-sloka.fountain --language hi --burn-subtitles \
		-o out/the-lamp-sloka.mp4
	@echo "films: out/the-lamp.mp4 and out/the-lamp-sloka.mp4 (subtitles beside them)"
	@echo "the web studio: http://127.0.0.1:$${FILMSTUDIO_API_PORT:-8000}/"

down:
	@if [ -x $(FILMSTUDIO) ]; then $(FILMSTUDIO) down; else echo "nothing to stop"; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy domain schemas adapters commands
