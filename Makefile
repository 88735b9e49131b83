# The host service. `make run` starts it in development mode; `make test`
# installs what the tests need and runs them all against a private engine.
SHELL := /bin/bash
.DEFAULT_GOAL := build
.PHONY: deps build build-prod release run runstaging runprod test test-unit lint format bench visualize visualize-check status install clean

DEPS_STAMP := node_modules/.deps-stamp

$(DEPS_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: $(DEPS_STAMP)

build: deps
	node scripts/build.mjs

# What production hosts run. In CI (CI=true) the build refuses to produce it
# without HOST_SERVICE_AUTH_SECRET_PROD; `make test` builds a development
# artifact and needs no secret.
# It is a single executable with Node.js inside (about 90 MB), for hosts
# without Node.js; its source map lies beside it. BUILD_DIR [build] moves both.
build-prod: deps
	BUILD_ENV=production node scripts/build.mjs

# Publishes the production artifact: s3://$$RELEASE_BUCKET/<commit>/, then
# latest/, and the Sentry release and deploy (settings: README, Publishing).
release: build-prod
	npx tsx scripts/release/main.ts

run: build
	scripts/dev-run.sh development

runstaging: build
	scripts/dev-run.sh staging

runprod: build
	scripts/dev-run.sh production

test: build
	scripts/install-deps.sh engine rclone browser systemd awscli
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

PREFIX ?= /usr/local
UNIT_DIR ?= /etc/systemd/system

# Puts the executable and the systemd unit in place (DESTDIR for packaging).
install: build-prod
	install -D -m 0755 build/ecs-host-service $(DESTDIR)$(PREFIX)/bin/ecs-host-service
	install -D -m 0644 deploy/ecs-host-service.service $(DESTDIR)$(UNIT_DIR)/ecs-host-service.service
	@if [ -z "$(DESTDIR)" ] && command -v systemctl >/dev/null; then systemctl daemon-reload; fi

clean:
	rm -rf build node_modules/.deps-stamp
