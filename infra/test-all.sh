#!/usr/bin/env bash
# Every test of slm: template lint (cfn-lint, sam validate --lint), unit tests (among them the
# least-privilege check of template.yaml and the parsers' property tests), the end-to-end
# suite on a fresh local stack, and the IAM check of what the suite's calls needed against what
# template.yaml grants. Needs only the Rust toolchain and python3.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The local stack's state: .local unless SLM_DATA_DIR names another (README, "Installing the CLI").
DATA="${SLM_DATA_DIR:-.local}"
VENV="${SLM_VENV:-$DATA/venv}"

# The end-to-end sessions record here the IAM each function's calls need (docs/architecture.md,
# "Security"); only this run's records count.
rm -rf "$DATA/iam-usage"

export SAM_CLI_TELEMETRY=0
infra/local/stack.sh install

echo "== template: cfn-lint"
"$VENV/bin/cfn-lint" template.yaml
echo "== template: sam validate --lint"
"$VENV/bin/sam" validate --lint --template template.yaml --region us-east-1

# A fresh emulator: no state left from earlier runs.
infra/local/stack.sh stop
trap 'infra/local/stack.sh stop' EXIT
infra/local/stack.sh start

echo "== unit and end-to-end tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --test-threads 3
else
  cargo test --workspace --no-fail-fast -- --test-threads 3
fi

echo "== IAM: every call the suite made is granted to its function, every grant is used"
cargo run -q --bin slm -- lint iam
