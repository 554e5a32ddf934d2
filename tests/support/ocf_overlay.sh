#!/bin/sh
# Show a private OCF provider directory as ocf:clearview inside the current mount namespace
# only, never touching the system's /usr/lib/ocf/resource.d (tests must not rewrite what
# another checkout or an installed package put there).
#   ocf_overlay.sh PRIVATE_RESOURCE_D
# PRIVATE_RESOURCE_D holds clearview/ (written by `ipmp-ocf install --ocf-root ...`). Each
# provider of the system's resource.d except clearview is bind-mounted onto an empty
# directory of the same name in PRIVATE_RESOURCE_D, then PRIVATE_RESOURCE_D is bind-mounted
# over /usr/lib/ocf/resource.d recursively (--rbind: with those mounts). Run it only in a
# private mount namespace (unshare --mount --propagation private): cluster_node.sh does,
# tests/netns/test_agents.py does.
set -eu
PRIV=$1
SYS=/usr/lib/ocf/resource.d
[ -d "$PRIV/clearview" ] || { echo "ocf_overlay.sh: $PRIV/clearview missing" >&2; exit 1; }
for p in "$SYS"/*; do
    name=$(basename "$p")
    [ "$name" = clearview ] && continue
    [ -d "$p" ] || continue
    mkdir -p "$PRIV/$name"
    mount --bind "$p" "$PRIV/$name"
done
mount --rbind "$PRIV" "$SYS"
