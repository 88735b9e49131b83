# The host service. `make run` starts it in development mode; `make test`
# installs what the tests need and runs them all against a private engine.
SHELL := /bin/bash
.DEFAULT_GOAL := build
.PHONY: deps build run runstaging runprod test test-unit lint format bench visualize visualize-check status install clean

DEPS_STAMP := node_modules/.deps-stamp

$(DEPS_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: $(DEPS_STAMP)

build: deps
	node scripts/build.mjs

run: build
	scripts/dev-run.sh development

runstaging: build
	scripts/dev-run.sh staging

runprod: build
	scripts/dev-run.sh production

test: build
	scripts/install-deps.sh engine rclone browser
	scripts/test-engine.sh run -- npx vitest run

# Unit tests of the machines and pure modules only: no engine needed.
test-unit: deps
	npx vitest run --project unit

lint: deps visualize-check
	npx tsc --noEmit
	npx eslint .
	npx prettier --check .

# Every actor's state on the running service (HOST_SERVICE_URL, WEBSERVER_AUTH_SECRET); STATUS_ARGS=--json for JSON.
status: deps
	npx tsx scripts/status.ts $(STATUS_ARGS)

# State charts in visualizations/, generated from the machine definitions.
visualize: deps
	npx tsx scripts/visualize.ts

# Fails when a machine changed and `make visualize` was not run (part of `make lint`).
visualize-check: deps
	npx tsx scripts/visualize.ts --check

format: deps
	npx prettier --write .

bench: build
	scripts/install-deps.sh engine rclone
	scripts/test-engine.sh run -- node --import tsx bench/run.ts $(BENCH)

clean:
	rm -rf build node_modules/.deps-stamp
