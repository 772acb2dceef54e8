#!/usr/bin/env bash
# Installs the Debian packages the test harness (scripts/services.sh) needs, and only those missing.
#
# This is the one place that lists them: CI starts on a fresh Debian 12 machine with nothing installed
# by hand, so the project's own files must bring every tool the integration tests use.
set -euo pipefail

PACKAGES=(
    docker.io        # dockerd + docker CLI: the engine the Docker collector reads
    docker-registry  # the OCI distribution server: one plain HTTP, one TLS + htpasswd instance
    skopeo           # pushes test images from the daemon into the registries
    busybox-static   # the only thing inside test images (no image can be pulled here)
    postgresql       # the team database: migrations and concurrency tests run against it
    apache2-utils    # htpasswd -B for the TLS registry's bcrypt credentials
    openssl          # the self-signed CA and server certificate of the TLS registry
    curl             # readiness probes (docker _ping over the unix socket, registry /v2/)
    tmux             # drives the TUI as a person would in its end-to-end tests
    podman           # optional second engine behind the Docker-compatible API (services.sh podman)
    openssh-server   # sshd in front of dockerd: an engine collected over ssh:// (services.sh sshd)
    openssh-client   # ssh and ssh-keygen for that server's keys and readiness probe
    prometheus       # promtool checks the metrics exposition; a test's own server scrapes posture metrics
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all Debian packages present"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing Debian packages (${missing[*]}); run this script as root to install them" >&2
    exit 1
fi

# Package scripts would start system-wide dockerd/postgres on their default ports; the harness runs its
# own instances, so forbid service starts during the install unless the machine already has a policy.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
