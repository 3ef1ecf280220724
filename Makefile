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
	$(BIN)/buf generate

.PHONY: check-generated
check-generated: install ## Fail when `buf generate` would change gen/
	@tmp=$$(mktemp -d) && cp -r buf.yaml buf.gen.yaml proto "$$tmp"/ && \
	  (cd "$$tmp" && PATH="$(CURDIR)/$(BIN):$$PATH" buf generate) && \
	  if ! diff -r "$$tmp/gen" gen; then echo "gen/ is stale: run 'make generate' and commit"; rm -rf "$$tmp"; exit 1; fi; \
	  rm -rf "$$tmp"; echo "gen/ is up to date"

.PHONY: lint
lint: install ## buf lint, TypeScript typecheck, eslint
	$(BIN)/buf lint
	$(BIN)/tsc --noEmit
	$(BIN)/eslint .

.PHONY: breaking
breaking: install ## buf breaking against the main branch
	@if git rev-parse --verify -q main >/dev/null && git cat-file -e main:proto 2>/dev/null; then \
	  $(BIN)/buf breaking --against '.git#branch=main'; \
	else echo "main has no proto/ yet: nothing to compare"; fi

.PHONY: run
run: install ## Start the service (embedded PostgreSQL under .data/ unless DATABASE_URL is set)
	npm start

.PHONY: test
test: install ## Run the whole suite on a real PostgreSQL (DATABASE_URL, Docker, or embedded)
	npm test -- $(TEST_ARGS)

.PHONY: migrate
migrate: install ## Apply pending migrations to DATABASE_URL
	npm run migrate
