#!/usr/bin/env bash
# Brings a machine from nothing to two running container engines (Podman and
# Docker) with pocketdock's test images, without any container registry.
#
# Idempotent: when the engines run and the images exist it only checks and
# returns in a few seconds. Where it cannot install (not root, not Debian) it
# uses whatever engine socket answers, or says exactly what to install.
#
# Environment:
#   POCKETDOCK_ENGINES  "podman docker" (default), or just one of them
#   POCKETDOCK_SKIP_SETUP=1  do nothing (an engine is managed elsewhere)
set -euo pipefail

[ "${POCKETDOCK_SKIP_SETUP:-}" = "1" ] && exit 0

ENGINES="${POCKETDOCK_ENGINES:-podman docker}"
PODMAN_SOCK=/run/podman/podman.sock
DOCKER_SOCK=/var/run/docker.sock
CACHE=/var/cache/pocketdock
LOGDIR=/var/log/pocketdock
# Bump when the recipe of an image below changes, so existing machines rebuild.
IMAGE_REVISION=1

log() { printf '[engine-setup] %s\n' "$*" >&2; }

socket_answers() {
  curl -sf --max-time 3 --unix-socket "$1" http://d/version >/dev/null 2>&1
}

wait_for_socket() {
  local sock=$1 name=$2
  for _ in $(seq 1 120); do
    socket_answers "$sock" && return 0
    sleep 0.25
  done
  log "$name did not answer on $sock within 30 s; see $LOGDIR/$name.log"
  tail -n 20 "$LOGDIR/$name.log" >&2 || true
  return 1
}

can_install() {
  [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1
}

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -f /var/lib/apt/periodic/pocketdock-updated ]; then
    apt-get update -qq
    mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/pocketdock-updated
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Daemons are started in their own session with every descriptor redirected,
# so that they never hold the caller's stdout open (a CI runner waits for EOF).
start_daemon() {
  local name=$1
  shift
  mkdir -p "$LOGDIR"
  setsid nohup "$@" >"$LOGDIR/$name.log" 2>&1 </dev/null &
}

configure_podman() {
  mkdir -p /etc/containers
  local conf=/etc/containers/containers.conf
  if ! grep -q 'pocketdock' "$conf" 2>/dev/null; then
    # crun refuses hybrid cgroup v1; ulimits may not exceed the host's.
    local nofile nproc
    nofile=$(ulimit -Hn)
    nproc=$(ulimit -Hu)
    [ "$nofile" = "unlimited" ] && nofile=1048576
    [ "$nproc" = "unlimited" ] && nproc=1048576
    [ "$nproc" -gt 32768 ] && nproc=32768
    cat >"$conf" <<EOF
# written by pocketdock scripts/engine-setup.sh
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]

[engine]
runtime = "runc"
EOF
  fi
}

setup_podman() {
  # catatonit is the init of `Init: true` containers; apt only recommends it,
  # and recommends are not installed here. Checked even when Podman runs.
  if can_install; then
    apt_install podman runc uidmap catatonit
  elif ! command -v podman >/dev/null 2>&1; then
    log "podman is missing: install podman, runc and catatonit"
    return 1
  fi
  if socket_answers "$PODMAN_SOCK"; then return 0; fi
  can_install && configure_podman
  mkdir -p "$(dirname "$PODMAN_SOCK")"
  log "starting the Podman API service"
  start_daemon podman podman system service --time=0 "unix://$PODMAN_SOCK"
  wait_for_socket "$PODMAN_SOCK" podman
}

setup_docker() {
  if socket_answers "$DOCKER_SOCK"; then return 0; fi
  if ! command -v dockerd >/dev/null 2>&1; then
    can_install || { log "dockerd is missing: install docker.io"; return 1; }
    apt_install docker.io
  fi
  log "starting dockerd"
  start_daemon docker dockerd
  wait_for_socket "$DOCKER_SOCK" docker
}

# --- images ---------------------------------------------------------------

debian_mirror() {
  local uri
  uri=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
    grep -v security | head -n1 | awk '{print ($1=="deb") ? $2 : $2}')
  echo "${uri:-http://deb.debian.org/debian}"
}

# A Debian bookworm rootfs (minbase + procps + ca-certificates + the given
# packages) with a `sandbox` user (uid 1000), from Debian's mirror.
# Usage: debian_rootfs NAME [PACKAGE,...]; prints the path of the cached tar.
debian_rootfs() {
  local name=$1 extra=${2:-}
  local out="$CACHE/$name-r$IMAGE_REVISION.tar"
  if [ ! -s "$out" ]; then
    apt_install mmdebstrap
    mkdir -p "$CACHE"
    log "building the $name rootfs with mmdebstrap"
    mmdebstrap --quiet --variant=minbase --include="procps,ca-certificates${extra:+,$extra}" \
      --customize-hook='chroot "$1" useradd --create-home --uid 1000 --shell /bin/sh sandbox' \
      --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
      bookworm "$out.partial.tar" "$(debian_mirror)" </dev/null
    mv "$out.partial.tar" "$out"
  fi
  echo "$out"
}

# A busybox rootfs with a `sandbox` user (uid 1000), from busybox-static.
busybox_rootfs() {
  local out="$CACHE/busybox-r$IMAGE_REVISION.tar"
  if [ ! -s "$out" ]; then
    apt_install busybox-static
    mkdir -p "$CACHE"
    local dir
    dir=$(mktemp -d)
    mkdir -p "$dir"/{bin,etc,tmp,root,proc,sys,dev,home/sandbox,usr/bin,usr/sbin,sbin}
    cp /bin/busybox "$dir/bin/busybox"
    for applet in $("$dir/bin/busybox" --list); do
      [ "$applet" = busybox ] || ln -sf /bin/busybox "$dir/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nsandbox:x:1000:1000:sandbox:/home/sandbox:/bin/sh\n' >"$dir/etc/passwd"
    printf 'root:x:0:\nsandbox:x:1000:\n' >"$dir/etc/group"
    chmod 1777 "$dir/tmp"
    chown 1000:1000 "$dir/home/sandbox"
    tar -C "$dir" -cf "$out.tmp" .
    rm -rf "$dir"
    mv "$out.tmp" "$out"
  fi
  echo "$out"
}

image_present() {
  local engine=$1 tag=$2
  case $engine in
  podman) podman image exists "$tag" 2>/dev/null && [ "$(podman image inspect --format '{{index .Labels "pocketdock.revision"}}' "$tag" 2>/dev/null)" = "$IMAGE_REVISION" ] ;;
  docker) [ "$(docker image inspect --format '{{index .Config.Labels "pocketdock.revision"}}' "$tag" 2>/dev/null)" = "$IMAGE_REVISION" ] ;;
  esac
}

# Imports a rootfs, then labels it through a one-line build (import cannot label).
import_image() {
  local engine=$1 tag=$2 rootfs=$3 cli
  image_present "$engine" "$tag" && return 0
  log "importing $tag into $engine"
  if [ "$engine" = podman ]; then cli=podman; else cli=docker; fi
  $cli import --change 'CMD ["/bin/sh"]' "$rootfs" "$tag-rootfs" >"$LOGDIR/import.log" 2>&1 ||
    { cat "$LOGDIR/import.log" >&2; return 1; }
  local ctx
  ctx=$(mktemp -d)
  printf 'FROM %s\nLABEL pocketdock.revision="%s" pocketdock.base="true"\nWORKDIR /home/sandbox\nCMD ["/bin/sh"]\n' \
    "$tag-rootfs" "$IMAGE_REVISION" >"$ctx/Dockerfile"
  $cli build -q -t "$tag" "$ctx" >"$LOGDIR/import.log" 2>&1 ||
    { cat "$LOGDIR/import.log" >&2; return 1; }
  rm -rf "$ctx"
}

build_images() {
  local engine=$1
  import_image "$engine" pocketdock/busybox "$(busybox_rootfs)"
  import_image "$engine" pocketdock/minimal-python "$(debian_rootfs debian-python python3)"
  # the base the image profiles (profiles/*/Dockerfile) build FROM, offline of any registry
  import_image "$engine" pocketdock/debian-base "$(debian_rootfs debian-base)"
}

main() {
  local ok=0
  command -v curl >/dev/null 2>&1 || { can_install && apt_install curl ca-certificates; }
  for engine in $ENGINES; do
    if "setup_$engine"; then
      if command -v "$engine" >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
        build_images "$engine"
      fi
      ok=$((ok + 1))
    else
      log "$engine is not available"
    fi
  done
  if [ "$ok" -eq 0 ]; then
    log "no container engine is reachable. Install Podman (apt-get install podman runc; podman system service --time=0 &) or Docker."
    exit 1
  fi
  log "ready: $ENGINES"
}

main "$@"
