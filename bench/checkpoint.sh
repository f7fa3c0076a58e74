#!/usr/bin/env bash
# Checkpoint + restore of the same payload (a shell counting into a file every 50 ms) with
# hostproc and with runc, both driving the same CRIU; ROUNDS rounds each, median wall
# times of `checkpoint` (the container stops) and `restore --detach`. Run as root:
#   bench/checkpoint.sh [HOSTPROC] [CRIU] [ROUNDS]
# Everything lives in a temporary directory and relative cgroups, removed at the end.
set -euo pipefail
# A HostProcess container shares the host's pids, and CRIU gives every process its pid
# back, so a restore waits until the checkpointed processes are reaped. Under containerd
# the shim (a subreaper) reaps them at once; here the bench is made a subreaper too
# (bash reaps any child), else this machine's pid 1, which reaps about 1.8 s late, is
# what would be measured. prctl(PR_SET_CHILD_SUBREAPER) survives exec.
if [ -z "${CRBENCH_SUBREAPER:-}" ]; then
    export CRBENCH_SUBREAPER=1
    exec python3 -c 'import ctypes, os, sys; ctypes.CDLL(None).prctl(36, 1, 0, 0, 0); os.execvp("bash", ["bash"] + sys.argv[1:])' "$0" "$@"
fi
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOSTPROC="${1:-$REPO/target/x86_64-unknown-linux-gnu/debug/hostproc}"
CRIU="${2:-/var/cache/hostproc-ci/criu-4.1.1/criu}"
ROUNDS="${3:-5}"
T="$(mktemp -d /tmp/hostproc-crbench.XXXXXX)"
cleanup() {
    runc --root "$T/runc" delete -f bench-runc >/dev/null 2>&1 || true
    "$HOSTPROC" --root "$T/hp" delete -f bench-hp >/dev/null 2>&1 || true
    rm -rf "$T"
    # runc keeps the parent cgroups it made for the relative cgroupsPath: ours to remove.
    local ctrls path mnt d
    while IFS=: read -r _ ctrls path; do
        case "$ctrls" in
            name=systemd) mnt=/sys/fs/cgroup/systemd ;;
            name=*) continue ;;
            "") mnt=/sys/fs/cgroup/unified; [ -e /sys/fs/cgroup/cgroup.controllers ] && mnt=/sys/fs/cgroup ;;
            *) mnt="/sys/fs/cgroup/$ctrls" ;;
        esac
        for d in runc hp ""; do rmdir "$mnt${path%/}/hostproc-crbench/$d" 2>/dev/null || true; done
    done < /proc/self/cgroup
}
trap cleanup EXIT
mkdir -p "$T/cnt" "$T/rb/rootfs" "$T/hb/rootfs"
loop='i=0; while :; do i=$((i+1)); echo $i > /cnt/count; sleep 0.05; done'

# runc: its own namespaces (no network), the host's /usr read-only, /cnt bound.
(cd "$T/rb" && runc spec)
python3 - "$T" "$loop" <<'PY'
import json, sys
t, loop = sys.argv[1], sys.argv[2]
c = json.load(open(f"{t}/rb/config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/sh", "-c", loop]
c["root"] = {"path": "rootfs", "readonly": True}
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
c["mounts"] += [{"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]},
                {"destination": "/cnt", "type": "bind", "source": f"{t}/cnt", "options": ["rbind", "rw"]}]
c["linux"]["cgroupsPath"] = "hostproc-crbench/runc"
json.dump(c, open(f"{t}/rb/config.json", "w"))
# hostproc: bind mode (its default), the counter at the same path through a volume.
h = {"ociVersion": "1.2.0", "root": {"path": "rootfs"},
     "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "cwd": "/",
                 "args": ["/bin/sh", "-c", loop], "env": ["PATH=/usr/bin:/bin"]},
     "mounts": [{"destination": "/cnt", "type": "bind", "source": f"{t}/cnt", "options": ["rbind", "rw"]}],
     "annotations": {"microsoft.com/hostprocess-container": "true"},
     "linux": {"cgroupsPath": "hostproc-crbench/hp"}}
json.dump(h, open(f"{t}/hb/config.json", "w"))
PY
(cd "$T/rb/rootfs" && ln -s usr/bin bin && ln -s usr/lib lib && ln -s usr/lib64 lib64 && mkdir usr cnt proc dev sys tmp)

ms() { echo $(( ($2 - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

bench() { # name run-cmd checkpoint-cmd restore-cmd (each with IMG substituted)
    local name=$1 run=$2 ck=$3 rs=$4 i t0 t1 t2
    : > "$T/$name.ck"; : > "$T/$name.rs"
    eval "$run" </dev/null >/dev/null 2>&1
    sleep 0.3
    for i in $(seq "$ROUNDS"); do
        local img="$T/img-$name-$i"
        t0=$(date +%s%N); eval "${ck//IMG/$img}" </dev/null >/dev/null 2>"$T/err" || { cat "$T/err"; exit 1; }
        t1=$(date +%s%N); eval "${rs//IMG/$img}" </dev/null >/dev/null 2>"$T/err" || { cat "$T/err"; exit 1; }
        t2=$(date +%s%N)
        ms "$t0" "$t1" >> "$T/$name.ck"; ms "$t1" "$t2" >> "$T/$name.rs"
        sleep 0.2
    done
    local before; before=$(cat "$T/cnt/count"); sleep 0.3
    [ "$(cat "$T/cnt/count")" -gt "$before" ] || { echo "$name: the counter stopped after the last restore" >&2; exit 1; }
    printf '%-9s checkpoint %4s ms   restore %4s ms   (median of %s; all: %s / %s)\n' "$name" \
        "$(median < "$T/$name.ck")" "$(median < "$T/$name.rs")" "$ROUNDS" \
        "$(paste -sd' ' "$T/$name.ck")" "$(paste -sd' ' "$T/$name.rs")"
}

echo "CRIU $("$CRIU" --version | sed -n 's/Version: //p'), runc $(runc --version | head -1 | awk '{print $3}'), $(nproc) CPUs"
bench runc "runc --root $T/runc run -d -b $T/rb bench-runc" \
    "runc --root $T/runc --criu $CRIU checkpoint --image-path IMG bench-runc" \
    "runc --root $T/runc --criu $CRIU restore -d -b $T/rb --image-path IMG bench-runc"
runc --root "$T/runc" delete -f bench-runc
bench hostproc "$HOSTPROC --root $T/hp run -d -b $T/hb bench-hp" \
    "$HOSTPROC --root $T/hp --criu $CRIU checkpoint --image-path IMG bench-hp" \
    "$HOSTPROC --root $T/hp --criu $CRIU restore -d -b $T/hb --image-path IMG bench-hp"
