#!/usr/bin/env bash
# One command for the whole reference lab on this machine:
# set-up, a real osTicket on 127.0.0.1, the seed, the lab scenario, the final review.
# Arguments go to `ostops local up` (--dir, --port, --source, --fresh); with --dir every later command uses
# that instance too. --evidence DIR goes to `ostops run`: a screenshot of each step and their write-up in DIR.
set -euo pipefail
up_args=()
run_args=()
absolute() { # like the shell would for `--dir ~/x`, also for `--dir=~/x`
    local path="$1"
    [[ $path == "~" || $path == "~/"* ]] && path="$HOME${path:1}"
    realpath -m "$path"
}
while (($#)); do
    case "$1" in
        --dir) up_args+=(--dir "$(absolute "${2:?--dir needs a folder}")"); shift 2 ;;
        --dir=*) up_args+=(--dir "$(absolute "${1#--dir=}")"); shift ;;
        --source) up_args+=(--source "$(absolute "${2:?--source needs a path}")"); shift 2 ;;
        --source=*) up_args+=(--source "$(absolute "${1#--source=}")"); shift ;;
        --evidence) run_args+=(--evidence "$(absolute "${2:?--evidence needs a folder}")"); shift 2 ;;
        --evidence=*) run_args+=(--evidence "$(absolute "${1#--evidence=}")"); shift ;;
        *) up_args+=("$1"); shift ;;
    esac
done
for ((i = 0; i < ${#up_args[@]}; i++)); do
    if [[ ${up_args[i]} == --dir ]]; then
        export OSTOPS_INSTANCE="${up_args[i + 1]}/instance.json"
    fi
done
cd "$(dirname "$0")/.."
scripts/setup.sh
OSTOPS=.venv/bin/ostops
$OSTOPS local up ${up_args[@]+"${up_args[@]}"}
$OSTOPS run seed/scenarios/lab.yaml --seed ${run_args[@]+"${run_args[@]}"}
$OSTOPS report
