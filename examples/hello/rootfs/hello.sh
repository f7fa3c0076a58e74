#!/bin/sh
# The payload of the hello example: runs directly on the host, in its job.
echo "Hello from a HostProcess container on $(uname -n)!"
echo "CONTAINER_SANDBOX_MOUNT_POINT=$CONTAINER_SANDBOX_MOUNT_POINT"
echo "running as uid $(id -u) in cgroup $(grep -m1 -E ':memory:|^0::' /proc/self/cgroup | cut -d: -f3)"
