#!/usr/bin/env bash
# Install what ostops needs on Debian/Ubuntu (system packages when run as root), then the Python venv.
# Usage: scripts/setup.sh          everything: the lab, the Azure program and the test tools (scripts/test.sh)
#        scripts/setup.sh --lab    only what the lab needs: no Azure SDK, no test tools (scripts/lab.sh)
# Idempotent; fast when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=dev
case "${1:-}" in
  "") ;;
  --lab) profile=lab ;;
  *) echo "scripts/setup.sh: unknown option '$1' (use --lab, or nothing for the full set-up)" >&2; exit 2 ;;
esac

# The PHP releases osTicket 1.18 runs on: 8.1-8.2 in 1.18.1 (its README; osTicket#6571), 8.3 and 8.4 in later
# 1.18 releases (osTicket#6774, PRs #6697 and #6788). `ostops local up` checks the chosen source's own range.
SUPPORTED_PHP=(8.1 8.2 8.3 8.4)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# Root installs; so does a user whose sudo needs no password (a CI runner's); anyone else is told the command.
SUDO=()
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
fi
can_install() { { [[ $(id -u) -eq 0 ]] || ((${#SUDO[@]})); } && command -v apt-get >/dev/null; }
apt_get() { ${SUDO[@]+"${SUDO[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get "$@"; }
apt_updated=
apt_update() {
  if [[ -z $apt_updated ]]; then
    apt_get update -qq
    apt_updated=1
  fi
}

# The distribution's PHP: the one installed, else the one its php-fpm package depends on (Debian 12: 8.2,
# Debian 13: 8.4, Ubuntu 24.04: 8.3, Ubuntu 22.04: 8.1).
php_version() {
  if command -v php >/dev/null; then
    php -r 'echo PHP_MAJOR_VERSION, ".", PHP_MINOR_VERSION;'
    return
  fi
  local depends
  depends=$(apt-cache depends php-fpm 2>/dev/null | sed -n 's/^ *Depends: php\([0-9]*\.[0-9]*\)-fpm$/\1/p' | head -1)
  if [[ -z $depends ]] && can_install; then
    apt_update
    depends=$(apt-cache depends php-fpm 2>/dev/null | sed -n 's/^ *Depends: php\([0-9]*\.[0-9]*\)-fpm$/\1/p' | head -1)
  fi
  echo "$depends"
}

PHP=$(php_version)
if [[ -z $PHP ]]; then
  echo "scripts/setup.sh: this system offers no PHP package (apt-cache depends php-fpm found none); osTicket" \
       "needs PHP ${SUPPORTED_PHP[*]} from the distribution's packages" >&2
  exit 2
fi
supported=
for v in "${SUPPORTED_PHP[@]}"; do [[ $v == "$PHP" ]] && supported=1; done
if [[ -z $supported ]]; then
  echo "scripts/setup.sh: PHP $PHP is not one osTicket 1.18 supports (${SUPPORTED_PHP[*]}); use a distribution" \
       "that ships one of those (Debian 12/13, Ubuntu 22.04/24.04)" >&2
  exit 2
fi

# haproxy: the load balancer of `ostops local up --web-nodes N` (automation/local/haproxy.py).
PACKAGES=("php$PHP-cli" "php$PHP-fpm" "php$PHP-mysql" "php$PHP-intl" "php$PHP-gd" "php$PHP-mbstring"
          "php$PHP-xml" "php$PHP-apcu" "php$PHP-curl" "php$PHP-zip" mariadb-server mariadb-client nginx
          apache2-utils haproxy)
# The test tools' own system packages (scripts/test.sh): shellcheck checks the composite action's scripts; the
# age command line proves a backup opens with the reference age tool (tests/unit/test_backup_archive.py).
if [[ $profile == dev ]]; then
  PACKAGES+=(shellcheck age)
fi
# Recommended, not required: imap is optional since osTicket 1.18 (PR #6703) and PHP 8.4 no longer bundles it.
OPTIONAL_PACKAGES=("php$PHP-imap")

# For `ostops run --evidence` (and its e2e test): Debian's Chromium, driven by Playwright. Its fonts are only
# recommended by the package (apt-cache depends chromium), and recommends are not installed here.
BROWSER_PACKAGES=(chromium fonts-liberation)

missing=()
for pkg in "${PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
browser_missing=()
for pkg in "${BROWSER_PACKAGES[@]}"; do
  installed "$pkg" || browser_missing+=("$pkg")
done
if ((${#browser_missing[@]})); then
  if can_install; then
    missing+=("${browser_missing[@]}")
  else
    echo "· without ${browser_missing[*]} there is no --evidence (sudo apt-get install -y --no-install-recommends" \
         "${browser_missing[*]})" >&2
  fi
fi
if ((${#missing[@]})); then
  if can_install; then
    echo "· installing system packages for PHP $PHP: ${missing[*]}"
    apt_update
    apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "These system packages are missing. Install them, then run this again:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 2
  fi
fi
for pkg in "${OPTIONAL_PACKAGES[@]}"; do
  if ! installed "$pkg" && can_install; then
    apt_update
    apt_get install -y -qq --no-install-recommends "$pkg" >/dev/null 2>&1 \
      || echo "· $pkg is not offered here: osTicket runs without it (no IMAP/POP3 mail fetching)"
  fi
done

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "· creating .venv"
  "$PY" -m venv .venv
fi
if [[ $profile == lab ]]; then
  extra=lab
  probe="import automation, playwright"
else
  extra=dev
  probe="import automation, pytest, hypothesis, tree_sitter_pwsh, pulumi_azure_native, playwright, PIL"
fi
marker=.venv/.ostops-installed-$extra
if ! .venv/bin/python -c "$probe" 2>/dev/null || [[ pyproject.toml -nt $marker ]]; then
  echo "· installing ostops[$extra] into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extra]"
  touch "$marker"
fi
echo "· set-up complete (PHP $PHP, ostops[$extra])"
