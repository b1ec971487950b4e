# The entry points a person and CI both use. `make test` is the whole check, from a fresh
# clone: it installs what it needs (see README.md).

SHELL := /bin/bash
CARGO ?= cargo

.PHONY: test lint fmt test-rust doc

## Everything: formatting, lints, every test in every language, docs.
test: lint test-rust doc

## Formatting and clippy, warnings as errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## Rewrites the code in the project's format.
fmt:
	$(CARGO) fmt --all

## Rust unit, integration, property and doc tests, and the conformance vectors.
test-rust:
	$(CARGO) test --workspace --locked

## API docs, warnings as errors.
doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -p portway --no-deps --locked
