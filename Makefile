# The entry points a person and CI both use. `make test` is the whole check, from a fresh
# clone: it installs what it needs (see README.md).

SHELL := /bin/bash
CARGO ?= cargo

.PHONY: redis-server test lint fmt test-rust doc demo serve bench soak fuzz install-swift test-python test-node test-swift dist test-dist

# Each binding brings its own test script; the languages whose package exists are tested.
LANG_TESTS := $(if $(wildcard python/test.sh),test-python) \
              $(if $(wildcard node/test.sh),test-node) \
              $(if $(wildcard swift/test.sh),test-swift)

## Everything: formatting, lints, every test in every language, docs, and the prebuilt
## packages installed and run where no Rust is reachable.
test: lint test-rust doc $(LANG_TESTS) test-dist

## A sample sandbox service on a preview URL, with a curl line that works as printed.
demo:
	$(CARGO) run --locked --release -p portway-cli -- demo

## The gateway with an SQLite store (./portway.db) and the admin API on 127.0.0.1:9090.
serve:
	$(CARGO) run --locked --release -p portway-cli -- serve

## Formatting and clippy, warnings as errors.
lint:
	scripts/readme.py
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## Rewrites the code in the project's format.
fmt:
	$(CARGO) fmt --all

## Rust unit, integration, property and doc tests, and the conformance vectors (the Redis
## store's tests start their own redis-server: scripts/redis.sh installs it when missing).
test-rust: redis-server
	$(CARGO) test --locked -p portway -p portway-cli

## API docs, warnings as errors.
doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -p portway --no-deps --locked

## Python: builds the wheel in a venv, runs pytest (vectors, gateway, errors), checks stubs.
test-python: redis-server
	python/test.sh

## Node: builds the addon with the napi CLI, runs node --test and tsc.
test-node: redis-server
	node/test.sh

## Swift: generates the bindings and runs swift test (provisions Swift if needed).
test-swift: redis-server
	swift/test.sh

## Benchmarks against nginx and a direct connection (not part of `make test`); results go to
## bench/RESULTS.md.
bench:
	bench/run.sh

## 60 s of WebSocket sessions and HTTP load through the gateway: zero errors, flat memory.
soak:
	bench/soak.sh

## Each fuzz target for a fixed number of inputs (cargo-fuzz, nightly).
fuzz:
	fuzz/run.sh

## The artifacts users install without Rust, in dist/: the Python wheel (abi3, manylinux2014)
## and sdist, the npm packages (portway and portway-linux-x64-gnu), the server's tarball, and
## SHA256SUMS (scripts/dist.sh).
dist:
	scripts/dist.sh

## Builds dist/ and installs it as a user would, with no Rust in reach: a fresh venv, a fresh
## npm project, the server tarball, each running a real program (scripts/dist-check.sh).
test-dist: dist
	scripts/dist-check.sh

## redis-server for the Redis store's tests, installed when missing (scripts/redis.sh).
redis-server:
	scripts/redis.sh >/dev/null

## Installs the Swift package's native library and its pkg-config file under PREFIX.
PREFIX ?= /usr/local
install-swift:
	swift/install.sh $(PREFIX)
