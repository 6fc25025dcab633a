#!/usr/bin/env bash
# Install what ostops needs on Debian/Ubuntu (system packages when run as root), then the Python venv.
# Usage: scripts/setup.sh            idempotent; fast when everything is already there
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(php8.2-cli php8.2-fpm php8.2-mysql php8.2-intl php8.2-gd php8.2-mbstring php8.2-xml php8.2-imap
          php8.2-apcu php8.2-curl php8.2-zip mariadb-server mariadb-client nginx apache2-utils)

# For `ostops run --evidence` (and its e2e test): Debian's Chromium, driven by Playwright. Its fonts are only
# recommended by the package (apt-cache depends chromium), and recommends are not installed here.
BROWSER_PACKAGES=(chromium fonts-liberation)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for pkg in "${PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
browser_missing=()
for pkg in "${BROWSER_PACKAGES[@]}"; do
  installed "$pkg" || browser_missing+=("$pkg")
done
if ((${#browser_missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    missing+=("${browser_missing[@]}")
  else
    echo "· without ${browser_missing[*]} there is no --evidence (sudo apt-get install -y --no-install-recommends" \
         "${browser_missing[*]})" >&2
  fi
fi
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "· installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "These system packages are missing. Install them, then run this again:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 2
  fi
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "· creating .venv"
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import automation, pytest, tree_sitter_pwsh, pulumi_azure_native, playwright, PIL" \
     2>/dev/null \
   || [[ pyproject.toml -nt .venv/.ostops-installed ]]; then
  echo "· installing ostops and its test tools into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch .venv/.ostops-installed
fi
echo "· set-up complete"
