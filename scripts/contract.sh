#!/usr/bin/env bash
# Check the installed crm-core against ../shared/contract/check.py, for the sections that are done.
set -euo pipefail
BIN=${1:-.venv/bin}
SECTIONS=$(grep -v '^#' .ci/contract-sections | tr '\n' ' ')
CHECK=${CRM_CONTRACT_CHECK:-../shared/contract/check.py}
if [ ! -f "$CHECK" ]; then
  echo "contract check not found at $CHECK; skipped"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
env -u CRM_DATABASE_URL CRM_INSTANCE_PATH="$tmp" "$BIN/python" "$CHECK" $SECTIONS
