#!/bin/sh
# node-setup: writes the node's config file through the hostPath volume mounted at
# /host-config, then keeps running (the readiness probe checks the file); with --once
# (pod.yaml, a Pod that runs to completion) it exits 0 once the file is written.
# The host's tools do the work: this image holds only scripts.
set -eu
conf=/host-config/node.conf
tmp=$conf.tmp.$$
{
    echo "# written by node-setup (pod $POD_NAME on node $NODE_NAME)"
    echo "node=$NODE_NAME"
    echo "host_ip=$HOST_IP"
    echo "log_level=$LOG_LEVEL"
    echo "cpu_limit_millicores=$CPU_LIMIT"
} > "$tmp"
mv "$tmp" "$conf"
echo "node-setup: wrote $conf"
if [ "${1:-}" = "--once" ]; then
    exit 0
fi
trap 'echo "node-setup: stopping"; exit 0' TERM INT
while :; do sleep 1; done
