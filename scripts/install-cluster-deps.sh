#!/usr/bin/env bash
# Install the Debian packages the cluster tests need (root only): Pacemaker, corosync, pcs,
# the resource agents (ocf-tester, ocf:heartbeat:Dummy), crmsh and the Pacemaker CLI tools.
# Idempotent and quick when everything is present: `apt-get update` and `apt-get install`
# run only when a package is missing. Installing starts no service (no systemd here, and
# the tests never use the init scripts).
set -euo pipefail

PACKAGES=(pacemaker corosync pcs resource-agents crmsh pacemaker-cli-utils iputils-arping)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-cluster-deps: missing packages (${missing[*]}); run as root to install them" >&2
  exit 1
fi
echo "install-cluster-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
