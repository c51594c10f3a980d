#!/usr/bin/env bash
# Every test of slm: template lint (cfn-lint, sam validate --lint), unit tests (among them the
# least-privilege check of template.yaml and the parsers' property tests), the end-to-end
# suite on a fresh local stack on moto, the end-to-end suite and the demo again on LocalStack, and
# the IAM check of what the suites' calls needed against what template.yaml grants. Needs only the
# Rust toolchain and python3 (and, for LocalStack, a Python 3.13 the machine has).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The local stack's state: .local unless SLM_DATA_DIR names another (README, "Installing the CLI").
DATA="${SLM_DATA_DIR:-.local}"
VENV="${SLM_VENV:-$DATA/venv}"

# The end-to-end sessions record here the IAM each function's calls need (docs/architecture.md,
# "Security"); only this run's records count.
rm -rf "$DATA/iam-usage" "$DATA/known-defects.txt"

export SAM_CLI_TELEMETRY=0
infra/local/stack.sh install

echo "== template: cfn-lint"
"$VENV/bin/cfn-lint" template.yaml
echo "== template: sam validate --lint"
"$VENV/bin/sam" validate --lint --template template.yaml --region us-east-1

# Fresh emulators: no state left from earlier runs.
infra/local/stack.sh stop
SLM_EMULATOR=localstack infra/local/stack.sh stop
trap 'infra/local/stack.sh stop; SLM_EMULATOR=localstack infra/local/stack.sh stop' EXIT
infra/local/stack.sh start

failed=0
echo "== unit and end-to-end tests (moto)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --test-threads 3 || failed=1
else
  cargo test --workspace --no-fail-fast -- --test-threads 3 || failed=1
fi
infra/local/stack.sh stop

# The same end-to-end suite (the CLI's included) and the demo on LocalStack. The workspace is
# named as on moto, and the packages chosen by a filter, so the build is the one made above
# (`-p` would unify other features and build the dependencies again). The fault suite runs on
# moto only: its faults are injected between slm and the emulator, whichever it is, and the
# test command's 40 minutes cannot hold it twice.
echo "== end-to-end tests (LocalStack)"
SLM_EMULATOR=localstack infra/local/stack.sh start
export SLM_EMULATOR=localstack
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --test-threads 3 -E '(package(slm-e2e) & !binary(faults)) | package(slm-cli)' || failed=1
else
  cargo test -p slm-e2e -p slm-cli --no-fail-fast -- --test-threads 3 --skip a_lifecycle || failed=1
fi
echo "== demo (LocalStack)"
cargo run -q --bin slm -- demo > "$DATA/demo-localstack.log" 2>&1 || { failed=1; tail -40 "$DATA/demo-localstack.log"; }
unset SLM_EMULATOR
SLM_EMULATOR=localstack infra/local/stack.sh stop

echo "== known emulator defects the tests stopped at (infra/local/src/defects.rs)"
sort "$DATA/known-defects.txt" 2>/dev/null || echo "none"

echo "== IAM: every call the suites made is granted to its function, every grant is used"
cargo run -q --bin slm -- lint iam || failed=1
[[ "$failed" == 0 ]] || { echo "slm: tests failed (see above)" >&2; exit 1; }
