#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One idempotent setup step for both README commands (`npm run bench -- …` and `npm test`):
# Debian packages (netperf from non-free), npm packages, bpffs, compiled BPF objects.
# Fast when everything is already there: it only checks, then returns.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

# binary -> Debian package providing it
declare -A BIN_PKG=(
  [clang]=clang [llc]=llvm [bpftool]=bpftool [ip]=iproute2 [tc]=iproute2
  [iptables]=iptables [iptables-legacy]=iptables [nft]=nftables [ipset]=ipset
  [conntrack]=conntrack [netperf]=netperf [netserver]=netperf [nsenter]=util-linux
  [sysctl]=procps [make]=make [ethtool]=ethtool
  [chromium]=chromium
)
HDR_PKG=libbpf-dev # provides /usr/include/bpf/bpf_helpers.h and libbpf.so.1

missing=()
for bin in "${!BIN_PKG[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$bin" >/dev/null 2>&1 || missing+=("${BIN_PKG[$bin]}")
done
[ -f /usr/include/bpf/bpf_helpers.h ] || missing+=("$HDR_PKG")
if ! ls /usr/lib/*/libbpf.so.1 >/dev/null 2>&1 && ! ls /lib/*/libbpf.so.1 >/dev/null 2>&1; then missing+=(libbpf1); fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u | sed '/^$/d')

need_root() {
  log "$1 needs root. Run the setup step as root, then run your command again:"
  log "    sudo bash scripts/setup.sh"
  exit 77
}

if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || need_root "installing Debian packages (${missing[*]})"
  if printf '%s\n' "${missing[@]}" | grep -qx netperf; then
    # netperf lives in Debian's non-free component
    if ! grep -rqsE '^Components:.*non-free( |$)|^deb .* non-free( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
      log "adding Debian non-free component for $codename (netperf)"
      cat > /etc/apt/sources.list.d/dpbench-non-free.sources <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $codename
Components: non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# bpffs, for pinned maps and links
if [ "$(id -u)" -eq 0 ] && ! mount | grep -q ' /sys/fs/bpf type bpf'; then
  log "mounting bpffs at /sys/fs/bpf"
  mkdir -p /sys/fs/bpf && mount -t bpf bpf /sys/fs/bpf
fi

# npm packages: install when node_modules is missing or older than the lock file
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
fi

# compiled BPF objects (make only rebuilds what changed)
if [ -f bpf/Makefile ]; then
  make -s -C bpf
fi
