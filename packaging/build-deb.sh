#!/usr/bin/env bash
# make deb: build clearview-ipmp_<version>_<arch>.deb in the checkout, from a tree
# assembled here (the equivalent of dh-virtualenv: the package carries its own venv,
# since Debian 12's python3-pyroute2 is too old for the DHCP client). See
# docs/design.md, "systemd units and the Debian package".
#   packaging/build-deb.sh [OUTPUT_DIR]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$REPO}
OUT=${OUT%/}
PKG=clearview-ipmp
# The package's venv; not make's /opt/clearview-ipmp/venv, which holds the test tools
# and which the test suite runs from (docs/operations.md, "The Debian package and
# systemd").
RUNTIME=/opt/clearview-ipmp/runtime
PYTHON=/usr/bin/python3
PYVER=$($PYTHON -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
SITE=$RUNTIME/lib/python$PYVER/site-packages
# the project's one version (ipmp_core.__version__, which setup.cfg reads), read from the
# source without importing the package
VERSION=$(sed -n 's/^__version__ *= *"\(.*\)"$/\1/p' "$REPO/ipmp_core/__init__.py")
case $VERSION in ''|*[!0-9A-Za-z.+~-]*) echo "build-deb: no usable version in ipmp_core/__init__.py: '$VERSION'" >&2; exit 1;; esac
ARCH=$(dpkg --print-architecture)
DEB=$OUT/${PKG}_${VERSION}_${ARCH}.deb

WORK=$(mktemp -d /tmp/cv-deb.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root
STAGED=$ROOT$RUNTIME

# The venv, built in the staging tree: the project installed as a wheel (not editable)
# without its test extra, then pip and setuptools removed (nothing runs them).
$PYTHON -m venv "$STAGED"
"$STAGED/bin/pip" install -q --disable-pip-version-check --no-cache-dir --no-compile "$REPO"
"$STAGED/bin/pip" uninstall -q -y pip setuptools
rm -f "$STAGED"/bin/activate* "$STAGED"/bin/Activate.ps1
# bin/ keeps only the interpreter: the commands are the shell wrappers in /usr/sbin
# (lintian accepts no python script but /usr/bin/python3's).
find "$STAGED/bin" -mindepth 1 ! -name 'python*' -delete
# Modules of the libraries that carry a "#!python" line but are not run as scripts.
grep -rlZ --include='*.py' -m1 '^#!' "$STAGED/lib" | xargs -0r sed -i '1s/^#!.*/#/'
sed -i "s|$STAGED|$RUNTIME|g" "$STAGED/pyvenv.cfg"
# Byte code is compiled by postinst (lintian: no __pycache__ in a package), and
# direct_url.json names the build checkout.
find "$STAGED" -name __pycache__ -prune -exec rm -rf {} +
find "$STAGED" -name direct_url.json -delete
# Shared objects of binary wheels: no debugging symbols in a package.
find "$STAGED" -name '*.so*' -type f -exec strip --strip-unneeded {} +

install -d "$ROOT/usr/sbin"
# The console scripts of setup.cfg, run by the package's interpreter, isolated (-I)
# from the caller's PYTHON* variables and user site-packages.
"$STAGED/bin/python" - "$REPO/setup.cfg" <<'PY' | while read -r cmd module func; do
import configparser, sys
cfg = configparser.ConfigParser()
cfg.read(sys.argv[1])
for line in cfg["options.entry_points"]["console_scripts"].strip().splitlines():
    name, target = (p.strip() for p in line.split("="))
    module, func = target.split(":")
    print(name, module, func)
PY
    cat > "$ROOT/usr/sbin/$cmd" <<SH
#!/bin/sh
# $cmd of the clearview-ipmp package, from its Python environment in $RUNTIME.
exec $RUNTIME/bin/python3 -I -c 'import sys; sys.argv[0] = "$cmd"; from $module import $func; sys.exit($func())' "\$@"
SH
    chmod 0755 "$ROOT/usr/sbin/$cmd"
done

# The agents, written by the same function as `ipmp-ocf install`, for the installed
# interpreter and site-packages.
install -d "$ROOT/usr/lib/ocf/resource.d/clearview"
"$STAGED/bin/python" - "$ROOT/usr/lib/ocf/resource.d/clearview" "$RUNTIME/bin/python" "$SITE" <<'PY'
import sys
from pathlib import Path

from agents.cli import agents, script

directory, interpreter, site = sys.argv[1:4]
for name in agents():
    path = Path(directory) / name
    path.write_text(script(name, interpreter, paths=[site]))
    path.chmod(0o755)
PY
find "$STAGED" -name __pycache__ -prune -exec rm -rf {} +

install -d "$ROOT/lib/systemd/system/ipmpd@default.service.d"
install -m 0644 "$REPO/systemd/ipmpd@.service" "$ROOT/lib/systemd/system/"
install -m 0644 "$REPO/systemd/ipmpd@default.service.d/host-namespace.conf" \
    "$ROOT/lib/systemd/system/ipmpd@default.service.d/"
install -D -m 0644 "$REPO/etc/default/clearview-ipmp" "$ROOT/etc/default/clearview-ipmp"
# /var/lib/clearview-ipmp is made by postinst (mode 0700) and removed by purge.

# Man pages and bash completion where Debian puts them, by the same make target that
# installs them by hand (one completion file, linked under each command's name, which
# is what bash-completion's loader looks for); Debian compresses its pages.
make -s -C "$REPO" install-docs PREFIX=/usr DESTDIR="$ROOT" >/dev/null
find "$ROOT/usr/share/man" -type f -name '*.[1-8]' -exec gzip -9n {} +

DOC=$ROOT/usr/share/doc/$PKG
install -D -m 0644 "$REPO/packaging/copyright" "$DOC/copyright"
install -m 0644 "$REPO/README.md" "$DOC/README.md"
gzip -9n "$DOC/README.md"
install -D -m 0644 "$REPO/packaging/lintian-overrides" \
    "$ROOT/usr/share/lintian/overrides/$PKG"
gzip -9nc "$REPO/packaging/changelog" > "$DOC/changelog.gz"
chmod 0644 "$DOC/changelog.gz"

install -d "$ROOT/DEBIAN"
for script in postinst prerm postrm; do
    install -m 0755 "$REPO/packaging/DEBIAN/$script" "$ROOT/DEBIAN/$script"
done
install -m 0644 "$REPO/packaging/DEBIAN/conffiles" "$ROOT/DEBIAN/conffiles"
SIZE=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE/" \
    -e "s/@PYVER@/$PYVER/g" -e "s/@PYNEXT@/${PYVER%.*}.$(( ${PYVER#*.} + 1 ))/" \
    "$REPO/packaging/DEBIAN/control.in" > "$ROOT/DEBIAN/control"
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
    xargs -0 md5sum) > "$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/md5sums"
# Files 0644, directories 0755, owned by root: whatever the umask of the build was.
find "$ROOT" -type d -exec chmod 0755 {} +
find "$ROOT" -type f ! -perm /111 -exec chmod 0644 {} +
find "$ROOT" -type f -perm /111 -exec chmod 0755 {} +

mkdir -p "$OUT"
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >/dev/null
echo "$DEB"
