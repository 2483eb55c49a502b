#!/usr/bin/env bash
# docker_check.sh: builds the project's Dockerfile and trains one short epoch
# in the container, on a machine that cannot pull images: the bases are made
# locally and handed to the Dockerfile through its build arguments.
#
#   1. installs docker.io and debootstrap with apt-get when missing, and starts
#      dockerd (--iptables=false --bridge=none; log in $DOCKERD_LOG) when no
#      daemon answers;
#   2. makes the base images, each reused when it exists (REBUILD=1 makes them
#      again):
#        $BASE_IMAGE   debootstrap --variant=minbase bookworm from the Debian
#                      mirror apt uses here, imported with docker import
#        $TORCH_IMAGE  $BASE_IMAGE + Debian's python3-torch (libtorch 1.13, CPU)
#                      and libtorch-dev (the headers torch/include links to),
#                      standing in for the official PyTorch CUDA image; it
#                      also trusts the host's CA bundle (TLS through a proxy
#                      that only the host trusts); rebuilt from docker's cache
#        $GO_IMAGE     this machine's Go toolchain (go env GOROOT) as
#                      /usr/local/go, standing in for the official Go image
#   3. docker build --force-rm --network host --build-arg PYTORCH_IMAGE=$TORCH_IMAGE
#      --build-arg GO_IMAGE=$GO_IMAGE -t $IMAGE . (the classic builder: BuildKit
#      would fetch its Dockerfile frontend; the build needs the network for
#      apt-get and the Go module proxy);
#   4. runs, with no network, the data archive mounted read-only and data/ and
#      runs/ mounted writable from $OUT:
#        trainer -epochs 1 -train-limit 1280 -test-limit 500 -threads 1 -workers 1 \
#            -data cifar10-jpeg.tar.gz -out runs/check
#      and checks the run's files (metrics.json with one epoch,
#      model_state_dict.pt, which /usr/bin/python3's torch must load);
#   5. writes into $OUT: docker_check.log (everything), build.log (docker build
#      of the project), bases.log (debootstrap and base images), train.log,
#      summary.txt (versions, image sizes, timings, checks, PASS/FAIL), and the
#      run in runs/check; temporary folders are removed.
#
# Run it as root from anywhere (it works in the repository root):
#
#   scripts/docker_check.sh
#
# The image it builds is a CPU image for this check only; the Dockerfile's
# defaults stay the official PyTorch CUDA and Go images.
#
# Settings (environment):
#   DATA          CIFAR-10 archive (default ../shared/datasets/cifar10-jpeg.tar.gz, or
#                 ../../shared/... from a worktree in a folder beside shared/)
#   OUT           default out/docker-check (emptied of an earlier check's run)
#   IMAGE         default gotrain:docker-check
#   BASE_IMAGE    default gotrain-base:bookworm
#   TORCH_IMAGE   default gotrain-torch:bookworm
#   GO_IMAGE      default gotrain-go:<host go version>
#   SUITE         default bookworm
#   MIRROR        default: the first apt source of $SUITE main (apt-get indextargets)
#   REBUILD=1     make the base images again
#   EPOCHS, TRAIN_LIMIT, TEST_LIMIT, THREADS, WORKERS   default 1, 1280, 500, 1, 1
#   CPU_LOCK      file that docker build, the training run and the package
#                 installs hold with flock (default /tmp/cpu.lock when it exists;
#                 empty: none)
#   DOCKERD_LOG   default /var/log/gotrain-dockerd.log
#   DOCKER        the docker client (default docker)

set -uo pipefail

case "${1:-}" in
-h | --help) sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
"") ;;
*) echo "docker_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
if [ -z "${DATA:-}" ]; then
	DATA=../shared/datasets/cifar10-jpeg.tar.gz # beside the project; beside a worktree's parent:
	[ -f "$DATA" ] || [ ! -f "../$DATA" ] || DATA=../$DATA
fi
OUT=${OUT:-out/docker-check}
IMAGE=${IMAGE:-gotrain:docker-check}
BASE_IMAGE=${BASE_IMAGE:-gotrain-base:bookworm}
TORCH_IMAGE=${TORCH_IMAGE:-gotrain-torch:bookworm}
SUITE=${SUITE:-bookworm}
REBUILD=${REBUILD:-0}
EPOCHS=${EPOCHS:-1}
TRAIN_LIMIT=${TRAIN_LIMIT:-1280}
TEST_LIMIT=${TEST_LIMIT:-500}
THREADS=${THREADS:-1}
WORKERS=${WORKERS:-1}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/gotrain-dockerd.log}
DOCKER=${DOCKER:-docker}
if [ -z "${CPU_LOCK+set}" ]; then
	CPU_LOCK=
	[ -e /tmp/cpu.lock ] && CPU_LOCK=/tmp/cpu.lock
fi
# The classic builder: BuildKit pulls its Dockerfile frontend from a registry
# for the '# syntax=' line, and a docker client without buildx refuses it.
export DOCKER_BUILDKIT=0

mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
rm -rf "$OUT/runs" "$OUT/data" "$OUT"/*.log "$OUT/summary.txt"
mkdir -p "$OUT/runs" "$OUT/data" || exit 1
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
exec > >(tee -a "$OUT/docker_check.log") 2>&1
TEE_PID=$!

TMP=
FAILED=()
REPLACED=() # ids of images this run's builds untagged, removed at the end
note() { echo "$*" | tee -a "$SUMMARY"; }
fail() { FAILED+=("$1"); note "FAIL: $1"; }
section() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }
finish() {
	[ -n "$TMP" ] && rm -rf "$TMP"
	local id
	for id in "${REPLACED[@]}"; do
		# only when nothing else uses it: an untagged image may be another's parent
		[ -z "$("$DOCKER" image inspect -f '{{.RepoTags}}' "$id" 2>/dev/null | tr -d '[]')" ] &&
			"$DOCKER" image rm "$id" >/dev/null 2>&1 && echo "removed the replaced image $id"
	done
	local status=PASS rc=0
	local IFS=';'
	[ ${#FAILED[@]} -eq 0 ] || { status="FAIL (${FAILED[*]})"; rc=1; }
	note "result: $status"
	exec >&- 2>&-
	wait "$TEE_PID" 2>/dev/null
	exit $rc
}
trap 'fail "interrupted"; finish' INT TERM
now_ns() { date +%s%N; }
since() { local d=$(($(now_ns) - $1)); printf '%d.%d' $((d / 1000000000)) $((d / 100000000 % 10)); }
# locked CMD...: CMD holding $CPU_LOCK, when there is one; WAITED says for
# how long it waited for the lock (", Ns of it waiting for $CPU_LOCK").
WAITED=
locked() {
	WAITED=
	[ -n "$CPU_LOCK" ] || { "$@"; return; }
	local fd rc t=$(now_ns)
	exec {fd}>>"$CPU_LOCK"
	flock "$fd"
	WAITED=", $(since "$t")s of it waiting for $CPU_LOCK"
	"$@"
	rc=$?
	exec {fd}>&-
	return $rc
}
have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }
image_id() { "$DOCKER" image inspect -f '{{.Id}}' "$1" 2>/dev/null; }
image_size() { "$DOCKER" image inspect -f '{{.Size}}' "$1" 2>/dev/null | awk '{printf "%.0f MB", $1/1e6}'; }

section "docker_check.sh in $ROOT"
note "date: $(date -u '+%Y-%m-%d %H:%M:%S') UTC"
note "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME"), $(uname -sr)"
note "commit: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"

if [ "$(id -u)" != 0 ]; then
	fail "must run as root (apt-get, dockerd, debootstrap)"
	finish
fi
if [ ! -f "$DATA" ]; then
	fail "no data archive at $DATA (set DATA)"
	finish
fi
DATA=$(cd "$(dirname "$DATA")" && pwd)/$(basename "$DATA")
note "data: $DATA"

# 1. Packages and the daemon.
section "packages"
PKGS=()
command -v dockerd >/dev/null || PKGS+=(docker.io)
command -v debootstrap >/dev/null || PKGS+=(debootstrap)
if [ ${#PKGS[@]} -gt 0 ]; then
	echo "installing ${PKGS[*]}"
	{ apt-get update -q && locked env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PKGS[@]}"; } >"$OUT/apt.log" 2>&1 ||
		{ fail "apt-get install ${PKGS[*]} (see apt.log)"; finish; }
fi
note "docker: client $("$DOCKER" version -f '{{.Client.Version}}' 2>/dev/null), $(dockerd --version 2>&1); $(debootstrap --version 2>&1 | head -1)"

section "dockerd"
if ! "$DOCKER" info >/dev/null 2>&1; then
	echo "no daemon answers; starting dockerd --iptables=false --bridge=none (log: $DOCKERD_LOG)"
	setsid dockerd --iptables=false --bridge=none >>"$DOCKERD_LOG" 2>&1 </dev/null &
	echo "dockerd pid $!"
	for _ in $(seq 60); do
		"$DOCKER" info >/dev/null 2>&1 && break
		sleep 1
	done
	if ! "$DOCKER" info >/dev/null 2>&1; then
		tail -20 "$DOCKERD_LOG"
		fail "dockerd did not start (see $DOCKERD_LOG)"
		finish
	fi
	note "dockerd: started (pid $(pgrep -xo dockerd)), left running"
else
	note "dockerd: already running"
fi
note "daemon: $("$DOCKER" info -f 'server {{.ServerVersion}}, storage {{.Driver}}, cgroup v{{.CgroupVersion}} ({{.CgroupDriver}})' 2>&1)"

# 2. The base images.
section "base images"
: >"$OUT/bases.log"
TMP=$(mktemp -d /tmp/docker-check.XXXXXX) || { fail "mktemp"; finish; }
if [ -z "${MIRROR:-}" ]; then
	MIRROR=$(apt-get indextargets --format '$(SITE) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' 2>/dev/null |
		awk -v s="$SUITE" '$2 == s && $3 == "main" {print $1; exit}')
fi
if [ -z "$MIRROR" ]; then
	fail "no apt source of $SUITE main found (set MIRROR)"
	finish
fi
echo "mirror: $MIRROR"
note "mirror: apt's source of $SUITE main on this machine"

if [ "$REBUILD" = 1 ] || ! have_image "$BASE_IMAGE"; then
	t0=$(now_ns)
	echo "debootstrap --variant=minbase $SUITE (log: bases.log)"
	if ! locked debootstrap --variant=minbase "$SUITE" "$TMP/rootfs" "$MIRROR" >>"$OUT/bases.log" 2>&1; then
		tail -20 "$OUT/bases.log"
		fail "debootstrap (see bases.log)"
		finish
	fi
	rm -rf "$TMP"/rootfs/var/cache/apt/archives/*.deb "$TMP"/rootfs/var/lib/apt/lists/*
	# An imported image has no environment: give it PATH, which the
	# Dockerfile extends.
	if ! tar -C "$TMP/rootfs" -c . | "$DOCKER" import \
		-c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		-c 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >>"$OUT/bases.log" 2>&1; then
		fail "docker import $BASE_IMAGE (see bases.log)"
		finish
	fi
	rm -rf "$TMP/rootfs"
	note "base: $BASE_IMAGE made in $(since "$t0")s$WAITED"
else
	note "base: $BASE_IMAGE exists, reused"
fi

# Built every time: docker's cache makes it a no-op while the base and these
# lines stay the same. The host's CA bundle goes in too: where this machine
# reaches the network through a TLS proxy that only its own bundle trusts,
# the project build's go mod download needs it.
mkdir -p "$TMP/torch"
cp /etc/ssl/certs/ca-certificates.crt "$TMP/torch/host-ca-bundle.crt" 2>/dev/null || : >"$TMP/torch/host-ca-bundle.crt"
cat >"$TMP/torch/Dockerfile" <<EOF
FROM $BASE_IMAGE
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-torch libtorch-dev ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
COPY host-ca-bundle.crt /usr/local/share/ca-certificates/
RUN update-ca-certificates
EOF
old_torch=$(image_id "$TORCH_IMAGE")
t0=$(now_ns)
echo "building $TORCH_IMAGE (log: bases.log)"
if ! locked "$DOCKER" build --force-rm --network host -t "$TORCH_IMAGE" "$TMP/torch" >>"$OUT/bases.log" 2>&1; then
	tail -20 "$OUT/bases.log"
	fail "docker build $TORCH_IMAGE (see bases.log)"
	finish
fi
[ -n "$old_torch" ] && [ "$old_torch" != "$(image_id "$TORCH_IMAGE")" ] && REPLACED+=("$old_torch")
note "torch base: $TORCH_IMAGE built in $(since "$t0")s ($(grep -c 'Using cache' "$OUT/bases.log") steps from docker's cache$WAITED)"

GOROOT_HOST=$(go env GOROOT 2>/dev/null)
GO_VERSION=$(go env GOVERSION 2>/dev/null)
if [ -z "$GOROOT_HOST" ] || [ -z "$GO_VERSION" ]; then
	fail "no Go toolchain on this machine for $GO_IMAGE"
	finish
fi
GO_IMAGE=${GO_IMAGE:-gotrain-go:${GO_VERSION#go}}
if [ "$REBUILD" = 1 ] || ! have_image "$GO_IMAGE"; then
	t0=$(now_ns)
	echo "importing $GOROOT_HOST as /usr/local/go into $GO_IMAGE"
	if ! tar -C "$(dirname "$GOROOT_HOST")" -c --transform "s,^$(basename "$GOROOT_HOST"),usr/local/go," \
		"$(basename "$GOROOT_HOST")" | "$DOCKER" import - "$GO_IMAGE" >>"$OUT/bases.log" 2>&1; then
		fail "docker import $GO_IMAGE (see bases.log)"
		finish
	fi
	note "go: $GO_IMAGE ($GO_VERSION from $GOROOT_HOST) made in $(since "$t0")s"
else
	note "go: $GO_IMAGE exists, reused"
fi

# 3. The project's image.
section "docker build $IMAGE"
BUILD_ARGS=(--build-arg "PYTORCH_IMAGE=$TORCH_IMAGE" --build-arg "GO_IMAGE=$GO_IMAGE")
echo "docker build --force-rm --network host ${BUILD_ARGS[*]} -t $IMAGE . (log: build.log)"
old_image=$(image_id "$IMAGE")
t0=$(now_ns)
locked "$DOCKER" build --force-rm --network host "${BUILD_ARGS[@]}" -t "$IMAGE" . >"$OUT/build.log" 2>&1
rc=$?
[ -n "$old_image" ] && [ "$old_image" != "$(image_id "$IMAGE")" ] && REPLACED=("$old_image" "${REPLACED[@]}")
note "build: docker build --force-rm --network host ${BUILD_ARGS[*]} -t $IMAGE . -> exit $rc in $(since "$t0")s$WAITED"
grep -E '^building against torch|^Step [0-9]+/' "$OUT/build.log"
if [ "$rc" -ne 0 ]; then
	tail -30 "$OUT/build.log"
	fail "docker build (see build.log)"
	finish
fi
note "$(grep -m1 '^building against torch' "$OUT/build.log")"
note "images: $IMAGE $(image_size "$IMAGE"), $TORCH_IMAGE $(image_size "$TORCH_IMAGE"), $BASE_IMAGE $(image_size "$BASE_IMAGE"), $GO_IMAGE $(image_size "$GO_IMAGE")"

# 4. One short epoch in the container, without network.
section "trainer in the container"
TRAIN_ARGS=(-epochs "$EPOCHS" -train-limit "$TRAIN_LIMIT" -test-limit "$TEST_LIMIT" -threads "$THREADS" -workers "$WORKERS"
	-data cifar10-jpeg.tar.gz -out runs/check)
RUN_ARGS=(--rm --network none -v "$DATA:/workspace/cifar10-jpeg.tar.gz:ro"
	-v "$OUT/data:/workspace/data" -v "$OUT/runs:/workspace/runs")
echo "docker run ${RUN_ARGS[*]} $IMAGE trainer ${TRAIN_ARGS[*]}"
t0=$(now_ns)
locked "$DOCKER" run "${RUN_ARGS[@]}" "$IMAGE" trainer "${TRAIN_ARGS[@]}" >"$OUT/train.log" 2>&1
rc=$?
note "train: trainer ${TRAIN_ARGS[*]} -> exit $rc in $(since "$t0")s$WAITED"
tail -15 "$OUT/train.log"
[ "$rc" -eq 0 ] || fail "trainer in the container exited $rc (see train.log)"

# 5. The run's files.
section "checks"
RUN=$OUT/runs/check
for f in metrics.json model_state_dict.pt; do
	if [ -s "$RUN/$f" ]; then
		note "file: runs/check/$f ($(stat -c %s "$RUN/$f") bytes)"
	else
		fail "runs/check/$f missing or empty"
	fi
done
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if [ -s "$RUN/metrics.json" ]; then
	check=$("$PY" - "$RUN/metrics.json" "$EPOCHS" <<'EOF' 2>&1
import json, sys
h = json.load(open(sys.argv[1]))
if len(h) != int(sys.argv[2]):
    print(f"FAIL: metrics.json has {len(h)} epochs, want {sys.argv[2]}"); sys.exit(1)
e = h[-1]
print(f"epoch {e['epoch']}: train loss {e['train_loss']:.4f}, train acc {e['train_acc']:.2f}%, "
      f"test acc {e['test_acc']:.2f}%, {e['epoch_seconds']:.1f} s, {e['images_per_sec']:.0f} images/s")
EOF
	) || fail "metrics.json: $check"
	note "metrics: $check"
fi
if [ -s "$RUN/model_state_dict.pt" ]; then
	check=$("$PY" - "$RUN/model_state_dict.pt" <<'EOF' 2>&1
import sys, torch
sd = torch.load(sys.argv[1], map_location="cpu")
print(f"{len(sd)} tensors, {sum(t.numel() for t in sd.values())} values (torch {torch.__version__} on the host)")
EOF
	)
	if [ $? -eq 0 ]; then
		note "state dict: $check"
	elif "$PY" -c 'import torch' 2>/dev/null; then
		fail "model_state_dict.pt does not load in torch: $check"
	else
		note "state dict: not checked (no torch in $PY)"
	fi
fi
[ -d "$OUT/data" ] && note "data cache: $(du -sh "$OUT/data" | cut -f1) in $OUT/data"

finish
