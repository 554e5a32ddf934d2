#!/usr/bin/env bash
# Install the Debian packages the project needs (root only). Idempotent and quick when
# everything is present: apt-get runs only for what is missing.
set -euo pipefail

# command -> package that provides it
declare -A NEEDED=(
  [ip]=iproute2
  [nft]=nftables
  [ping]=iputils-ping
  [tcpdump]=tcpdump
  [setpriv]=util-linux
  [sysctl]=procps
  [xmllint]=libxml2-utils
  [dnsmasq]=dnsmasq-base
  [nsenter]=util-linux
  [groff]=groff-base
  [man]=man-db
  # make deb and its tests: the package's checker, the units' checker
  [lintian]=lintian
  [systemd-analyze]=systemd
  # the log file's rotation (etc/logrotate.d) and the metrics' scrape and alert rules
  [logrotate]=logrotate
  [prometheus-node-exporter]=prometheus-node-exporter
  [promtool]=prometheus
)
missing=()
for cmd in "${!NEEDED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEEDED[$cmd]}")
done
# bash-completion has no command: its loader, which the completion tests use.
[ -e /usr/share/bash-completion/bash_completion ] || missing+=(bash-completion)
# python3-venv provides ensurepip for /usr/bin/python3.
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
