#!/usr/bin/env bash
# One command for the whole reference lab on this machine:
# set-up, a real osTicket on 127.0.0.1, the seed, the lab scenario, the final review.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
OSTOPS=.venv/bin/ostops
$OSTOPS local up "$@"
$OSTOPS run seed/scenarios/lab.yaml --seed
$OSTOPS report
