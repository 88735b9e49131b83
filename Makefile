# The host service. `make run` starts it in development mode; `make test`
# installs what the tests need and runs them all against a private engine.
SHELL := /bin/bash
.DEFAULT_GOAL := build
.PHONY: deps build build-prod release not-running run runstaging runprod stop test test-unit lint format bench visualize visualize-check status install clean

DEPS_STAMP := node_modules/.deps-stamp

# patches/ holds changes to dependencies that `npm ci` applies (patch-package, the
# postinstall script); a changed patch installs again.
$(DEPS_STAMP): package.json package-lock.json $(wildcard patches/*.patch)
	@echo "installing the npm packages (npm ci; about 40 s the first time, nothing after)"
	npm ci --no-audit --no-fund
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

# Refused while the service an earlier `make run` started still runs, before
# the build, which would otherwise replace the bundle under it.
not-running:
	@scripts/dev-run.sh --refuse-if-running "make $(or $(MAKECMDGOALS),run)"

run: not-running build
	scripts/dev-run.sh development

runstaging: not-running build
	scripts/dev-run.sh staging

runprod: not-running build
	scripts/dev-run.sh production

# The development engine that `make run` started (.run/engine) outlives the
# service; this stops it and removes its containers, mounts, bridge and data.
# Refused while the service `make run` started still runs: it would be left
# without its engine.
stop: not-running
	scripts/test-engine.sh destroy .run/engine

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

# Every actor's state on the running service; finds `make run`'s certificate and
# secret by default (HOST_SERVICE_URL, WEBSERVER_AUTH_SECRET, HOST_SERVICE_CA_FILE
# say otherwise). STATUS_ARGS=--json for JSON.
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

# BENCH_BUILD=production measures the single executable hosts run (built
# into build/production) instead of the development build: a copy put in
# place by `install`, as deploy/install-from-s3.sh puts it on a host. The
# file the build itself wrote ran up to half again slower for its first
# minutes on the machine this was measured on (bench/MEASUREMENTS.md, "How
# the executable's file was written").
bench: build
	scripts/install-deps.sh engine rclone
ifeq ($(BENCH_BUILD),production)
	BUILD_ENV=production BUILD_DIR=build/production node scripts/build.mjs
	install -D -m 0755 build/production/ecs-host-service build/production/installed/ecs-host-service
	BENCH_EXECUTABLE=$(CURDIR)/build/production/installed/ecs-host-service \
	  scripts/test-engine.sh run -- node --import tsx bench/run.ts $(BENCH)
else
	scripts/test-engine.sh run -- node --import tsx bench/run.ts $(BENCH)
endif
ifneq ($(filter-out production,$(BENCH_BUILD)),)
$(error BENCH_BUILD is "$(BENCH_BUILD)": leave it empty for the development build, or set it to production)
endif

PREFIX ?= /usr/local
UNIT_DIR ?= /etc/systemd/system

# Puts the executable and the systemd unit in place (DESTDIR for packaging).
install: build-prod
	install -D -m 0755 build/ecs-host-service $(DESTDIR)$(PREFIX)/bin/ecs-host-service
	install -D -m 0644 deploy/ecs-host-service.service $(DESTDIR)$(UNIT_DIR)/ecs-host-service.service
	@if [ -z "$(DESTDIR)" ] && command -v systemctl >/dev/null; then systemctl daemon-reload; fi

# Everything `make run` and `make build` made: the development engine and its
# containers, any mount left under .run, then .run and build themselves.
clean: stop
	@grep -F -- " $(CURDIR)/.run/" /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l
	rm -rf build .run node_modules/.deps-stamp
