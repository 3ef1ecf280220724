# Every target CI uses; `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
BIN := node_modules/.bin

node_modules/.installed: package.json package-lock.json
	npm ci --no-fund --no-audit
	@touch $@

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: install
install: node_modules/.installed ## Install dependencies (npm ci) when package files changed

.PHONY: generate
generate: install ## Regenerate gen/ from proto/ with buf
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/buf generate

.PHONY: check-generated
check-generated: install ## Fail when `buf generate` would change gen/
	@tmp=$$(mktemp -d) && cp -r buf.yaml buf.gen.yaml proto "$$tmp"/ && \
	  (cd "$$tmp" && PATH="$(CURDIR)/$(BIN):$$PATH" buf generate) && \
	  if ! diff -r "$$tmp/gen" gen; then echo "gen/ is stale: run 'make generate' and commit"; rm -rf "$$tmp"; exit 1; fi; \
	  rm -rf "$$tmp"; echo "gen/ is up to date"

.PHONY: lint
lint: install fmt-check ## buf lint, TypeScript typecheck (server, gateway, console), eslint (with the layer rule), formatting
	$(BIN)/buf lint
	$(BIN)/tsc --noEmit
	$(BIN)/tsc --noEmit -p web
	$(BIN)/tsc --noEmit -p web/e2e
	$(BIN)/eslint .

.PHONY: fmt
fmt: install ## Format the sources with Prettier
	$(BIN)/prettier --write --log-level warn .

.PHONY: fmt-check
fmt-check: install ## Fail when a source file is not formatted (make fmt fixes it)
	$(BIN)/prettier --check --log-level warn .

# On a branch: compare with main. On main itself (CI): compare with the commit
# before HEAD, the newest state clients may already use.
BREAKING_AGAINST ?= $(shell if [ "$$(git rev-parse --abbrev-ref HEAD 2>/dev/null)" = main ]; then git rev-parse -q --verify HEAD~1; else echo main; fi)

.PHONY: breaking
breaking: install ## buf breaking against main (on main: against HEAD~1)
	@if [ -n "$(BREAKING_AGAINST)" ] && git cat-file -e "$(BREAKING_AGAINST):proto" 2>/dev/null; then \
	  echo "buf breaking against $(BREAKING_AGAINST)"; \
	  $(BIN)/buf breaking --against ".git#ref=$(BREAKING_AGAINST)"; \
	else echo "no proto/ at $(BREAKING_AGAINST): nothing to compare"; fi

# The console's production build, which the service serves at /console/. A file
# target: rebuilt when a web source, a generated client or the lock file is newer.
CONSOLE_SOURCES := $(shell find web/src web/public web/index.html web/vite.config.ts -type f 2>/dev/null) $(shell find gen -type f -name '*.ts' 2>/dev/null)

web/dist/index.html: $(CONSOLE_SOURCES) package-lock.json | node_modules/.installed
	$(BIN)/vite build --config web/vite.config.ts
	@touch $@

.PHONY: console
console: web/dist/index.html ## Build the console (web/) into web/dist

.PHONY: run
run: install console ## Start the service and the MCP gateway with the pet store demo (embedded PostgreSQL under .data/ unless DATABASE_URL is set)
	npm run dev

.PHONY: test
test: install ## Run the whole suite on a real PostgreSQL (DATABASE_URL, Docker, or embedded)
	npm test -- $(TEST_ARGS)

# Builds the console, then drives it in Debian's Chromium against a server and
# database each file starts (web/e2e); screenshots go to artifacts/console/.
.PHONY: test-e2e
test-e2e: install console ## Console end-to-end tests in headless Chromium (needs /usr/bin/chromium)
	$(BIN)/vitest run --config vitest.e2e.config.ts $(TEST_ARGS)

# The conformance suite needs Node 22: test/conformance is a package of its own
# (the `node` package and the suite, with its own lock), so Node 22 never
# shadows the project's Node 20. npm itself runs on Node 20 and would warn about
# every Node-22 engine; hence --loglevel=error.
test/conformance/node_modules/.installed: test/conformance/package.json test/conformance/package-lock.json
	npm ci --prefix test/conformance --no-fund --no-audit --loglevel=error
	@touch $@

.PHONY: conformance
conformance: install test/conformance/node_modules/.installed ## The official MCP conformance suite (Node 22) against a gateway fixture, spec 2025-11-25 and 2026-07-28
	node --import tsx test/conformance/run.ts $(CONFORMANCE_ARGS)

.PHONY: migrate
migrate: install ## Apply pending migrations to DATABASE_URL
	npm run migrate
