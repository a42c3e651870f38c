# qscript: make build | test | interop | bench | fuzz | lint
GO        ?= go
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
# Packages whose tests also run under the race detector (hosts in goroutines, watch mode).
RACE_PKGS := ./host/... ./cmd/... ./examples/embed/...

.PHONY: build test interop bench fuzz lint

# build: the CLI at bin/qscript.
build:
	$(GO) build -o bin/qscript ./cmd/qscript

# test: everything that needs neither Python nor Node.
test:
	$(GO) vet ./...
	$(GO) test ./...
	@if [ "$$($(GO) env CGO_ENABLED)" = 1 ] && command -v "$$($(GO) env CC)" >/dev/null 2>&1; then \
		echo "$(GO) test -race $(RACE_PKGS)"; $(GO) test -race $(RACE_PKGS); \
	else \
		echo "make test: no C compiler, so the race detector cannot run: skipped go test -race $(RACE_PKGS)"; \
	fi

# interop: every interop/*.sh (live checks against PyTorch and ONNX Runtime) in name order;
# all run, and the target fails if any failed.
interop:
	@failed=""; \
	for f in $$(ls interop/*.sh 2>/dev/null | LC_ALL=C sort); do \
		echo "== $$f"; \
		bash "$$f" || failed="$$failed $$f"; \
	done; \
	if [ -n "$$failed" ]; then echo "make interop: FAILED:$$failed"; exit 1; fi

# bench: Go benchmarks of every package, then every bench/*.sh (whole-process comparisons).
bench:
	$(GO) test -run '^$$' -bench . -benchtime=$(BENCHTIME) ./...
	@set -e; for f in $$(ls bench/*.sh 2>/dev/null | LC_ALL=C sort); do echo "== $$f"; bash "$$f"; done

# fuzz: every Fuzz* target of the module, FUZZTIME each.
fuzz:
	@set -e; \
	targets=$$($(GO) test -list '^Fuzz' ./... | awk '/^Fuzz/ { names[n++] = $$1 } /^ok / { for (i = 0; i < n; i++) print $$2 "," names[i]; n = 0 }'); \
	if [ -z "$$targets" ]; then echo "make fuzz: no Fuzz targets"; fi; \
	for t in $$targets; do \
		pkg=$${t%%,*}; fn=$${t#*,}; \
		echo "== $$pkg $$fn ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) "$$pkg"; \
	done

# lint: gofmt must have nothing to say, and go vet must pass.
lint:
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './interop/node_modules/*' -not -path './.git/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt -l:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
