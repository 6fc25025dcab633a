#!/usr/bin/env bash
# One command for the whole reference lab on this machine:
# set-up, a real osTicket on 127.0.0.1, the seed, the lab scenario, the final review.
# Arguments go to `ostops local up` (--dir, --port, --source, --fresh); with --dir every later command uses
# that instance too. --evidence DIR goes to `ostops run`: a screenshot of each step and their write-up in DIR.
# --shim puts `ostops` on PATH (a link in ~/.local/bin) without asking; --no-shim never asks.
# Installs only what the lab needs (scripts/setup.sh --lab: no Azure SDK, no test tools).
set -euo pipefail
up_args=()
run_args=()
shim=ask
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
        --shim) shim=yes; shift ;;
        --no-shim) shim=no; shift ;;
        *) up_args+=("$1"); shift ;;
    esac
done
for ((i = 0; i < ${#up_args[@]}; i++)); do
    if [[ ${up_args[i]} == --dir ]]; then
        export OSTOPS_INSTANCE="${up_args[i + 1]}/instance.json"
    fi
done
cd "$(dirname "$0")/.."
scripts/setup.sh --lab
OSTOPS=.venv/bin/ostops
$OSTOPS local up ${up_args[@]+"${up_args[@]}"}
$OSTOPS run seed/scenarios/lab.yaml --seed ${run_args[@]+"${run_args[@]}"}
$OSTOPS report
echo
$OSTOPS local logins

# `ostops` lives in .venv/bin: put it on PATH, or say how.
venv_bin="$PWD/.venv/bin"
link="$HOME/.local/bin/ostops"
on_path=$(command -v ostops || true)
if [[ $on_path != "$venv_bin/ostops" && $(readlink -f "$on_path" 2>/dev/null) != "$venv_bin/ostops" ]]; then
    if [[ $shim == ask && -t 0 ]]; then
        read -r -p "Put ostops on your PATH as $link? [Y/n] " answer
        [[ ${answer:-y} == [yY]* ]] && shim=yes
    fi
    if [[ $shim == yes ]]; then
        mkdir -p "$(dirname "$link")"
        ln -sfn "$venv_bin/ostops" "$link"
        echo "ostops is now $link -> $venv_bin/ostops"
        case ":$PATH:" in
            *":$HOME/.local/bin:"*) ;;
            *) echo "~/.local/bin is not on your PATH yet: add  export PATH=\"\$HOME/.local/bin:\$PATH\"  to ~/.bashrc" ;;
        esac
    else
        echo
        echo "To use ostops in this shell:  source $venv_bin/activate   (or run $venv_bin/ostops,"
        echo "or scripts/lab.sh --shim to link it into ~/.local/bin)"
    fi
fi
