#!/bin/sh
# make-image.sh [--entrypoint PATH] OUT.tar REF
#
# Builds a tiny OCI image as an OCI layout archive (oci-layout, index.json,
# blobs/sha256/...) with nothing but tar, gzip and sha256sum, for the containerd
# integration test. The single layer holds:
#   /hello.sh          prints a greeting and $CONTAINER_SANDBOX_MOUNT_POINT
#   /hello.txt         a file the payload reads through the sandbox
#   /bin/hpc-tool      a script reachable through the sandbox's bin directory on PATH
#   /pause             a pod sandbox's process for the CRI test: sleeps until SIGTERM
#                      (the host has no /pause: hostproc finds it in the sandbox)
# The image's command is `sh -c $CONTAINER_SANDBOX_MOUNT_POINT/hello.sh`; with
# --entrypoint it is PATH alone (`--entrypoint /pause` makes the CRI's sandbox image).
# The index names the manifest REF (annotation org.opencontainers.image.ref.name).
set -eu

cmd='"Cmd":["/bin/sh","-c","$CONTAINER_SANDBOX_MOUNT_POINT/hello.sh"]'
if [ "$1" = --entrypoint ]; then
    cmd="\"Entrypoint\":[\"$2\"]"
    shift 2
fi
out=$1
ref=$2
arch=$(uname -m)
case "$arch" in
    x86_64) arch=amd64 ;;
    aarch64) arch=arm64 ;;
    armv7l|armv6l) arch=arm ;;
    ppc64le) arch=ppc64le ;;
    s390x) arch=s390x ;;
    riscv64) arch=riscv64 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/rootfs/bin" "$work/layout/blobs/sha256"
cat > "$work/rootfs/hello.sh" <<'SH'
#!/bin/sh
echo "hello from the image, sandbox=$CONTAINER_SANDBOX_MOUNT_POINT"
SH
echo "file from the image" > "$work/rootfs/hello.txt"
cat > "$work/rootfs/bin/hpc-tool" <<'SH'
#!/bin/sh
echo "hpc-tool $*"
SH
cat > "$work/rootfs/pause" <<'SH'
#!/bin/sh
sleep 2147483647 &
trap 'kill $!; exit 0' TERM INT
wait
SH
chmod 0755 "$work/rootfs" "$work/rootfs/bin" "$work/rootfs/hello.sh" "$work/rootfs/bin/hpc-tool" "$work/rootfs/pause"
chmod 0644 "$work/rootfs/hello.txt"

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { wc -c < "$1" | tr -d ' '; }
blob() { # blob FILE -> moves FILE into blobs/sha256/<digest>, prints the digest
    d=$(sha "$1")
    mv "$1" "$work/layout/blobs/sha256/$d"
    echo "$d"
}

# The layer: an uncompressed tar (its digest is the diff id), then gzip'd.
tar --numeric-owner --owner=0 --group=0 --mtime='2020-01-01 00:00:00' --sort=name \
    -C "$work/rootfs" -cf "$work/layer.tar" hello.sh hello.txt bin pause
diffid=$(sha "$work/layer.tar")
gzip -n -9 -c "$work/layer.tar" > "$work/layer.tar.gz"
layer_size=$(size "$work/layer.tar.gz")
layer=$(blob "$work/layer.tar.gz")

printf '%s' "{\"architecture\":\"$arch\",\"os\":\"linux\",\"config\":{\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\"FROM_IMAGE=yes\"],$cmd,\"WorkingDir\":\"/\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$diffid\"]},\"history\":[{\"created_by\":\"make-image.sh\"}]}" > "$work/config.json"
config_size=$(size "$work/config.json")
config=$(blob "$work/config.json")

printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$config\",\"size\":$config_size},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$layer\",\"size\":$layer_size}]}" > "$work/manifest.json"
manifest_size=$(size "$work/manifest.json")
manifest=$(blob "$work/manifest.json")

printf '%s' '{"imageLayoutVersion":"1.0.0"}' > "$work/layout/oci-layout"
printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$manifest\",\"size\":$manifest_size,\"platform\":{\"architecture\":\"$arch\",\"os\":\"linux\"},\"annotations\":{\"org.opencontainers.image.ref.name\":\"$ref\"}}]}" > "$work/layout/index.json"

tar --numeric-owner --owner=0 --group=0 -C "$work/layout" -cf "$out" oci-layout index.json blobs
