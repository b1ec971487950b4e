#!/usr/bin/env bash
# Runs every fuzz target for a fixed number of inputs (libFuzzer via cargo-fuzz, nightly).
#   fuzz/run.sh                  the default counts below
#   FUZZ_SCALE=0.01 fuzz/run.sh  a quick pass
#   FUZZ_TARGETS="admin_body gateway_request" fuzz/run.sh  some targets only
# A crash stops the run and leaves its input in fuzz/artifacts/<target>/; copy it to
# fuzz/regressions/<target>/ so the regression tests replay it forever after.
set -euo pipefail
cd "$(dirname "$0")"

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --locked
fi

scale=${FUZZ_SCALE:-1}
declare -A runs=(
  [parse_host]=10000000
  [build_url]=2000000
  [admin_body]=1000000
  [gateway_request]=200000
)
# Inputs longer than any valid value only exercise the first length check.
declare -A max_len=(
  [parse_host]=600
  [build_url]=800
  [admin_body]=4096
  [gateway_request]=4096
)
cargo +nightly fuzz build -O
summary=()
for target in ${FUZZ_TARGETS:-parse_host build_url admin_body gateway_request}; do
  n=$(python3 -c "print(max(1, int(${runs[$target]} * $scale)))")
  mkdir -p "corpus/$target"
  cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
  cp -n regressions/"$target"/* "corpus/$target/" 2>/dev/null || true
  echo "== $target: $n inputs"
  start=$(date +%s)
  cargo +nightly fuzz run -O "$target" "corpus/$target" -- -runs="$n" -max_len="${max_len[$target]}" -print_final_stats=1 2>&1 \
    | tee "/tmp/portway-fuzz-$target.log" | grep -E '^(#[0-9]+\s+(INITED|DONE)|stat::number_of_executed_units|Done)' || true
  if grep -qE 'ERROR: libFuzzer|panicked' "/tmp/portway-fuzz-$target.log"; then
    echo "!! $target crashed: see fuzz/artifacts/$target/ and /tmp/portway-fuzz-$target.log"
    exit 1
  fi
  executed=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "/tmp/portway-fuzz-$target.log" | awk '{print $2}')
  summary+=("$target: ${executed:-?} inputs, no crash, $(( $(date +%s) - start )) s")
done
echo
printf '%s\n' "${summary[@]}"
