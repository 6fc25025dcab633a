#!/usr/bin/env bash
# Portability check, by hand or in a scheduled job (not in the default CI: it downloads a distribution):
# scripts/lab.sh from a clean copy of this checkout inside a Debian 13 (trixie) chroot built with debootstrap
# from Debian's own packages. Proves that scripts/setup.sh finds Debian 13's PHP (8.4) and installs its
# packages, that the venv builds on its Python, and what `ostops local up` makes of the given osTicket release.
#
# Usage (as root): tests/portability/debian13_lab.sh [OSTICKET_ZIP]     log: $CHROOT/lab.log
#   A release whose README does not list PHP 8.4 (1.18.1 lists 8.1-8.2) is refused by `ostops local up`;
#   ALLOW_UNSUPPORTED_PHP=1 passes OSTOPS_ALLOW_UNSUPPORTED_PHP=1 in, to run the lab on it anyway (a warning).
#   CHROOT (default /var/tmp/ostops-chroot/trixie) is kept between runs; MIRROR defaults to deb.debian.org.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
zip=${1:-${OSTICKET_SOURCE:-$repo/../shared/osticket/osTicket-v1.18.1.zip}}
root=${CHROOT:-/var/tmp/ostops-chroot/trixie}
mirror=${MIRROR:-http://deb.debian.org/debian}

[[ $(id -u) -eq 0 ]] || { echo "$0: run as root (debootstrap and chroot need it)" >&2; exit 2; }
[[ -f $zip ]] || { echo "$0: $zip: no osTicket release zip there; give one as the first argument" >&2; exit 2; }
command -v debootstrap >/dev/null || apt-get install -y -qq --no-install-recommends debootstrap >/dev/null

if [[ ! -x $root/usr/bin/python3 ]]; then
  echo "· debootstrap trixie into $root"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,procps trixie "$root" "$mirror"
fi

mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
for fs in proc sys dev dev/pts; do
  mkdir -p "$root/$fs"
  mount --bind "/$fs" "$root/$fs"
  mounted+=("$root/$fs")
done
cp /etc/resolv.conf "$root/etc/resolv.conf"
# A host behind a TLS-inspecting proxy gives pip its own CA bundle (PIP_CERT): the chroot's pip needs it too.
chroot_env=()
if [[ ${ALLOW_UNSUPPORTED_PHP:-} == 1 ]]; then chroot_env+=(OSTOPS_ALLOW_UNSUPPORTED_PHP=1); fi
if [[ -n ${PIP_CERT:-} && -f $PIP_CERT ]]; then
  cp "$PIP_CERT" "$root/etc/ssl/certs/host-pip-ca.crt"
  chroot_env+=(PIP_CERT=/etc/ssl/certs/host-pip-ca.crt)
fi

echo "· a clean copy of HEAD ($(git rev-parse --short HEAD)) into $root/src"
rm -rf "$root/src" "$root/lab-instance"
mkdir -p "$root/src"
git archive HEAD | tar -x -C "$root/src"
cp "$zip" "$root/$(basename "$zip")"

echo "· scripts/lab.sh inside the chroot (log: $root/lab.log)"
set +e
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 OSTICKET_SOURCE="/$(basename "$zip")" ${chroot_env[@]+"${chroot_env[@]}"} \
  bash -c 'cd /src && . /etc/os-release && echo "== $PRETTY_NAME, $(python3 --version)" &&
           scripts/lab.sh --dir /lab-instance --no-shim; rc=$?;
           echo "== scripts/lab.sh exit $rc"; php -v | head -1;
           .venv/bin/ostops local down --dir /lab-instance >/dev/null 2>&1; exit $rc' 2>&1 | tee "$root/lab.log"
rc=${PIPESTATUS[0]}
set -e
exit "$rc"
