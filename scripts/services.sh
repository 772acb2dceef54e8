#!/usr/bin/env bash
# Starts and stops the real services Posture's integration tests use, all on 127.0.0.1 or on unix
# sockets under one state directory (${POSTURE_SERVICES_DIR:-/tmp/posture-services}):
#   dockerd    a Docker engine (vfs storage, no iptables, no bridge) and a busybox image built locally,
#              because no image can be pulled here
#   registry   two docker-registry servers: plain HTTP and anonymous; TLS (own CA) with htpasswd auth
#   postgres   PostgreSQL with a database posture_test, run by an unprivileged system user because
#              postgres refuses to run as root
#
#   podman     optional (not in "all"): podman's Docker-compatible API service, vfs storage
#   sshd       optional (not in "all"): OpenSSH on 127.0.0.1 whose sessions reach dockerd (ssh:// engines)
#
# Usage: scripts/services.sh start|stop|status|env [all|dockerd|registry|postgres|podman|sshd]
#   start   idempotent: a service whose recorded PID is alive is reused; one that is not running starts
#           from a clean slate (fresh data), so every test session sees the same initial state
#   stop    signals exactly the PIDs this script recorded and waits for them; never matches by name
#   status  one line per service; exits 0 only when every service asked for is running
#   env     prints $DIR/env.sh, the exported variables the pytest fixtures (tests/services.py) read
#
# Why a script and not pytest code: CI, a developer's shell and the fixtures start the services the
# same way, and a developer can keep them up across many test runs.
set -euo pipefail

DIR=${POSTURE_SERVICES_DIR:-/tmp/posture-services}
# Absolute, because the path ends up in socket URLs and is how our_pid recognises our daemons.
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
TIMEOUT=${POSTURE_SERVICES_TIMEOUT:-60}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUSYBOX_IMAGE=posture-test/busybox:1
REGISTRY_USER=posture
PG_ROLE=posture
PG_OS_USER=posture-pg
PG_DATABASE=posture_test

say() { echo "services: $*"; }
die() { echo "services: $*" >&2; exit 1; }

# Prints the last lines of an instance's log under the reason it failed, then fails.
fail_with_log() {
    {
        echo "services: $1: $2; last lines of $DIR/$1/log:"
        tail -n 30 "$DIR/$1/log" 2>/dev/null | sed 's/^/    /'
    } >&2
    exit 1
}

# Makes sure commands exist, installing the Debian packages (scripts/install-deps.sh) when one is missing.
need() {
    local cmd
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 && continue
        bash "$HERE/install-deps.sh" >&2 || die "cannot install the Debian package that provides $cmd"
        command -v "$cmd" >/dev/null 2>&1 || die "$cmd not found even after scripts/install-deps.sh"
    done
}

need_root() {
    [ "$(id -u)" -eq 0 ] || die "$1 needs root (run scripts/services.sh as root)"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Prints the PID recorded for an instance, but only while that process is still ours: alive, not a
# zombie, and started with our state directory in its command line (a recycled PID is someone else's).
our_pid() {
    local pidfile=$DIR/$1/pid pid
    [ -s "$pidfile" ] || return 1
    pid=$(<"$pidfile")
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/$1/" || return 1
    echo "$pid"
}

# True while a process exists and is not a zombie.
alive() {
    local state
    state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# Starts a daemon in its own session, detached from our stdio and from the lock on fd 9 (a daemon
# holding it would block every later run), and records its PID. Without job control the background
# child is not a process-group leader, so setsid execs in place and $! is the daemon itself.
launch() {
    local name=$1
    shift
    setsid "$@" </dev/null >>"$DIR/$name/log" 2>&1 9>&- &
    echo $! >"$DIR/$name/pid"
}

# Polls a readiness check until it passes; fails with the log tail on timeout or when the daemon died.
wait_ready() {
    local name=$1 what=$2 deadline=$((SECONDS + TIMEOUT))
    shift 2
    until "$@" >/dev/null 2>&1; do
        # Alive by PID, not our_pid: until setsid has exec'd the daemon, the child's command line is still
        # this script's, which our_pid would read as "not ours" and report a start that is merely early.
        alive "$(<"$DIR/$name/pid")" || fail_with_log "$name" "exited before $what answered"
        [ "$SECONDS" -lt "$deadline" ] || fail_with_log "$name" "$what did not answer within ${TIMEOUT}s"
        sleep 0.2
    done
}

# A fresh instance directory: the data of an earlier run would make test results depend on history.
fresh_dir() {
    # A dockerd killed hard leaves its network namespace mounts behind; release them first.
    awk -v d="${DIR:?}/$1/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "${DIR:?}/$1"
    mkdir -p "$DIR/$1"
}

# Signals an instance's recorded PID, waits for it, and escalates to SIGKILL after TIMEOUT seconds.
stop_instance() {
    local name=$1 signal=$2 pid deadline=$((SECONDS + TIMEOUT))
    if ! pid=$(our_pid "$name"); then
        rm -f "$DIR/$name/pid"
        return 0
    fi
    kill "-$signal" "$pid" 2>/dev/null || true
    while our_pid "$name" >/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "$name (pid $pid) ignored SIG$signal for ${TIMEOUT}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            deadline=$((SECONDS + 10))
        fi
        sleep 0.2
    done
    rm -f "$DIR/$name/pid"
    say "$name stopped (pid $pid)"
}

# ---------------------------------------------------------------------------------------------- dockerd

docker_sock() { echo "$DIR/dockerd/docker.sock"; }
docker_ping() { curl -sf --max-time 2 --unix-socket "$(docker_sock)" http://localhost/_ping; }
docker_cli() { docker -H "unix://$(docker_sock)" "$@"; }
docker_tls_url() { echo "tcp://127.0.0.1:$(cat "$DIR/dockerd/tls-port")"; }

# The engine's CA and server certificate, and a client certificate in the layout DOCKER_CERT_PATH
# names (ca.pem, cert.pem, key.pem).
make_docker_tls_material() {
    local d=$DIR/dockerd/tls
    need openssl
    mkdir -p "$d/client"
    (
        cd "$d" &&
            make_ca &&
            issue_cert server serverAuth &&
            issue_cert client clientAuth &&
            cp ca.crt client/ca.pem &&
            cp client.crt client/cert.pem &&
            cp client.key client/key.pem
    ) >>"$DIR/dockerd/log" 2>&1 || fail_with_log dockerd "generating the engine's TLS certificates failed"
}

start_dockerd() {
    local d=$DIR/dockerd
    if our_pid dockerd >/dev/null; then
        wait_ready dockerd "the Docker API (_ping)" docker_ping
        say "dockerd already running (pid $(our_pid dockerd))"
    else
        need_root dockerd
        need dockerd docker curl
        stop_orphan_containerd
        fresh_dir dockerd
        mkdir -p "$d/data" "$d/exec"
        # Our own (empty) config file keeps /etc/docker/daemon.json of the machine out of the tests.
        echo '{}' >"$d/daemon.json"
        make_docker_tls_material
        free_port >"$d/tls-port"
        # Also on TCP with mutual TLS (--tlsverify: a client certificate signed by the CA is required),
        # as a remote engine is exposed; the unix socket stays plain.
        launch dockerd dockerd --config-file "$d/daemon.json" --host "unix://$(docker_sock)" \
            --host "$(docker_tls_url)" --tlsverify --tlscacert "$d/tls/ca.crt" \
            --tlscert "$d/tls/server.crt" --tlskey "$d/tls/server.key" \
            --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" \
            --storage-driver vfs --iptables=false --bridge=none --shutdown-timeout 2
        wait_ready dockerd "the Docker API (_ping)" docker_ping
        say "dockerd started (pid $(our_pid dockerd), unix://$(docker_sock), $(docker_tls_url) with TLS)"
    fi
    docker_cli image inspect "$BUSYBOX_IMAGE" >/dev/null 2>&1 || build_busybox
}

# The test image: a static busybox and one symlink per applet, built offline by the legacy builder.
build_busybox() {
    local ctx=$DIR/dockerd/busybox-context applet
    need busybox
    mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/tmp"
    cp "$(command -v busybox)" "$ctx/rootfs/bin/busybox"
    for applet in $(busybox --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$ctx/rootfs/bin/$applet"
    done
    printf 'FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\nCMD ["sh"]\n' >"$ctx/Dockerfile"
    DOCKER_BUILDKIT=0 docker_cli build --network none --quiet --tag "$BUSYBOX_IMAGE" "$ctx" \
        >>"$DIR/dockerd/log" 2>&1 || fail_with_log dockerd "building $BUSYBOX_IMAGE failed"
    say "built $BUSYBOX_IMAGE"
}

# dockerd stops the containerd it started; if dockerd was killed or crashed, that containerd is still
# ours (its PID file lies in our exec root and its command line names our directory).
stop_orphan_containerd() {
    local pidfile=$DIR/dockerd/exec/containerd/containerd.pid pid
    [ -s "$pidfile" ] || return 0
    pid=$(<"$pidfile")
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR/dockerd/"; then
        kill -TERM "$pid" 2>/dev/null || true
        say "containerd left behind by dockerd signalled (pid $pid)"
    fi
}

stop_dockerd() {
    stop_instance dockerd TERM
    stop_orphan_containerd
}

# --------------------------------------------------------------------------------------------- registry

registry_port() { cat "$DIR/$1/port"; }
registry_password() { cat "$DIR/registry-tls/password"; }

registry_ping() {
    local name=$1 port
    port=$(registry_port "$name")
    if [ "$name" = registry-tls ]; then
        curl -sf --max-time 2 --cacert "$DIR/registry-tls/ca.crt" -u "$REGISTRY_USER:$(registry_password)" \
            "https://127.0.0.1:$port/v2/"
    else
        curl -sf --max-time 2 "http://127.0.0.1:$port/v2/"
    fi
}

# These helpers run inside `( … ) || fail_with_log`, where bash ignores `set -e`: every step is
# chained with && so that a failure is the result.

# A throw-away CA (ca.crt, ca.key) in the current directory.
make_ca() {
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 3650 \
        -keyout ca.key -out ca.crt -subj "/CN=Posture test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}

# NAME.crt and NAME.key in the current directory, signed by its CA, with the extensions strict
# verifiers ask for: serverAuth for 127.0.0.1 and localhost, or clientAuth.
issue_cert() {
    local name=$1 usage=$2 cn=$1 san=""
    if [ "$usage" = serverAuth ]; then
        cn=localhost
        san="subjectAltName=IP:127.0.0.1,DNS:localhost"
    fi
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$name.key" -out "$name.csr" -subj "/CN=$cn" &&
        printf '%s\n' ${san:+"$san"} "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
            "extendedKeyUsage=$usage" "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$name.ext" &&
        openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
            -extfile "$name.ext" -out "$name.crt" &&
        chmod 600 "$name.key"
}

# A throw-away CA and a server certificate for 127.0.0.1 and localhost, plus bcrypt htpasswd
# credentials with a random password.
make_tls_material() {
    local d=$DIR/registry-tls
    need openssl htpasswd
    (
        # skopeo and containers/image take a directory whose *.crt files are trusted CAs.
        cd "$d" &&
            make_ca &&
            issue_cert server serverAuth &&
            mkdir -p certs.d &&
            cp ca.crt certs.d/ca.crt &&
            openssl rand -hex 16 >password &&
            chmod 600 password ca.key &&
            # shellcheck disable=SC2094  # reads password, writes htpasswd: two files
            htpasswd -Bbn "$REGISTRY_USER" "$(<password)" >htpasswd
    ) >>"$d/log" 2>&1 || fail_with_log registry-tls "generating the CA, certificate or htpasswd failed"
}

write_registry_config() {
    local name=$1 port=$2 d=$DIR/$1
    {
        printf '%s\n' "version: 0.1" "log:" "  level: info" "storage:" "  filesystem:" \
            "    rootdirectory: $d/data" "  delete:" "    enabled: true" "http:" "  addr: 127.0.0.1:$port" \
            "  secret: $(openssl rand -hex 16)"
        if [ "$name" = registry-tls ]; then
            printf '%s\n' "  tls:" "    certificate: $d/server.crt" "    key: $d/server.key" \
                "auth:" "  htpasswd:" "    realm: posture-test" "    path: $d/htpasswd"
        fi
    } >"$d/config.yml"
}

start_registry_instance() {
    local name=$1 port
    if our_pid "$name" >/dev/null; then
        wait_ready "$name" "/v2/" registry_ping "$name"
        say "$name already running (pid $(our_pid "$name"), port $(registry_port "$name"))"
        return
    fi
    need docker-registry curl openssl
    fresh_dir "$name"
    mkdir -p "$DIR/$name/data"
    [ "$name" != registry-tls ] || make_tls_material
    port=$(free_port)
    echo "$port" >"$DIR/$name/port"
    write_registry_config "$name" "$port"
    launch "$name" docker-registry serve "$DIR/$name/config.yml"
    wait_ready "$name" "/v2/" registry_ping "$name"
    say "$name started (pid $(our_pid "$name"), 127.0.0.1:$port)"
}

start_registry() {
    start_registry_instance registry-plain
    start_registry_instance registry-tls
}

stop_registry() {
    stop_instance registry-plain TERM
    stop_instance registry-tls TERM
}

# --------------------------------------------------------------------------------------------- postgres

pg_bin() {
    local bin
    bin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bin" ]; then
        bash "$HERE/install-deps.sh" >&2 || die "cannot install PostgreSQL"
        bin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d | sort -V | tail -n 1)
    fi
    echo "$bin"
}

as_pg_user() { setpriv --reuid="$PG_OS_USER" --regid="$PG_OS_USER" --clear-groups -- "$@"; }
pg_port() { cat "$DIR/postgres/port"; }
pg_ready() { "$1/pg_isready" -q -h 127.0.0.1 -p "$(pg_port)" -U "$PG_ROLE" -d postgres; }
pg_sql() { "$1/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR/postgres/sock" -p "$(pg_port)" -U "$PG_ROLE" "${@:2}"; }

ensure_pg_os_user() {
    id -u "$PG_OS_USER" >/dev/null 2>&1 && return
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        "$PG_OS_USER"
}

ensure_pg_database() {
    local bin=$1
    if [ -z "$(pg_sql "$bin" -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" ]; then
        pg_sql "$bin" -d postgres -c "CREATE DATABASE $PG_DATABASE" >>"$DIR/postgres/log" 2>&1 ||
            fail_with_log postgres "CREATE DATABASE $PG_DATABASE failed"
    fi
}

start_postgres() {
    local d=$DIR/postgres bin port
    bin=$(pg_bin)
    if our_pid postgres >/dev/null; then
        wait_ready postgres "pg_isready" pg_ready "$bin"
        ensure_pg_database "$bin"
        say "postgres already running (pid $(our_pid postgres), port $(pg_port))"
        return
    fi
    need_root postgres
    ensure_pg_os_user
    fresh_dir postgres
    mkdir -p "$d/data" "$d/sock"
    chown "$PG_OS_USER:$PG_OS_USER" "$d/data" "$d/sock"
    chmod 700 "$d/data"
    as_pg_user test -w "$d/sock" ||
        die "postgres: user $PG_OS_USER cannot reach $d; use a POSTURE_SERVICES_DIR every user can traverse"
    # Trust on loopback and the private socket directory: a throw-away server for tests only.
    (cd / && as_pg_user "$bin/initdb" -D "$d/data" -U "$PG_ROLE" --auth=trust --encoding=UTF8 --locale=C \
        --no-sync --no-instructions) >>"$d/log" 2>&1 || fail_with_log postgres "initdb failed"
    port=$(free_port)
    echo "$port" >"$d/port"
    # Durability settings off: the data is thrown away, and the suite must stay fast on two cores.
    launch postgres setpriv --reuid="$PG_OS_USER" --regid="$PG_OS_USER" --clear-groups -- \
        "$bin/postgres" -D "$d/data" -p "$port" -k "$d/sock" -c listen_addresses=127.0.0.1 \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off
    wait_ready postgres "pg_isready" pg_ready "$bin"
    ensure_pg_database "$bin"
    say "postgres started (pid $(our_pid postgres), 127.0.0.1:$port, database $PG_DATABASE)"
}

# SIGINT is PostgreSQL's fast shutdown: it does not wait for test connections to close.
stop_postgres() { stop_instance postgres INT; }

# ------------------------------------------------------------------------------------------------- sshd

# Optional, not part of "all": an OpenSSH server on 127.0.0.1 whose sessions reach the test dockerd
# (SetEnv DOCKER_HOST), so the engine can be collected over ssh:// as from a remote host (the Docker
# SDK runs `docker system dial-stdio` through it). Keys only: a throw-away host key, and for the
# tests a client key and the known_hosts line that trusts the host key.
sshd_port() { cat "$DIR/sshd/port"; }
sshd_ping() {
    ssh -p "$(sshd_port)" -i "$DIR/sshd/client_ed25519" -o UserKnownHostsFile="$DIR/sshd/known_hosts" \
        -o StrictHostKeyChecking=yes -o BatchMode=yes root@127.0.0.1 true
}

start_sshd() {
    local d=$DIR/sshd port
    our_pid dockerd >/dev/null || start_dockerd
    if our_pid sshd >/dev/null; then
        wait_ready sshd "ssh with the test key" sshd_ping
        say "sshd already running (pid $(our_pid sshd))"
        return
    fi
    need_root sshd
    need sshd ssh ssh-keygen
    fresh_dir sshd
    mkdir -p /run/sshd # the privilege separation directory sshd insists on
    port=$(free_port)
    echo "$port" >"$d/port"
    ssh-keygen -q -t ed25519 -N "" -C posture-test-host -f "$d/host_ed25519"
    ssh-keygen -q -t ed25519 -N "" -C posture-test-client -f "$d/client_ed25519"
    cp "$d/client_ed25519.pub" "$d/authorized_keys"
    echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$d/host_ed25519.pub")" >"$d/known_hosts"
    printf '%s\n' "Port $port" "ListenAddress 127.0.0.1" "HostKey $d/host_ed25519" "PidFile $d/sshd.pid" \
        "AuthorizedKeysFile $d/authorized_keys" "PermitRootLogin prohibit-password" \
        "PasswordAuthentication no" "KbdInteractiveAuthentication no" "UsePAM no" "StrictModes no" \
        "SetEnv DOCKER_HOST=unix://$(docker_sock)" >"$d/sshd_config"
    # sshd re-executes itself for each connection, so it must be started by its absolute path.
    launch sshd "$(command -v sshd)" -D -e -f "$d/sshd_config"
    wait_ready sshd "ssh with the test key" sshd_ping
    say "sshd started (pid $(our_pid sshd), ssh://root@127.0.0.1:$port)"
}

stop_sshd() { stop_instance sshd TERM; }

# ----------------------------------------------------------------------------------------------- podman

# Optional, not part of "all": podman's Docker-compatible API answers and creates containers here, but
# cannot start them (it asks for rlimits above the hard limit, and the sandbox lacks CAP_SYS_RESOURCE).
podman_sock() { echo "$DIR/podman/podman.sock"; }
podman_ping() { curl -sf --max-time 2 --unix-socket "$(podman_sock)" http://localhost/_ping; }

start_podman() {
    local d=$DIR/podman
    if our_pid podman >/dev/null; then
        wait_ready podman "the Docker-compatible API (_ping)" podman_ping
        say "podman already running (pid $(our_pid podman))"
        return
    fi
    need_root podman
    need podman curl
    fresh_dir podman
    mkdir -p "$d/root" "$d/runroot" "$d/tmp"
    launch podman podman --root "$d/root" --runroot "$d/runroot" --tmpdir "$d/tmp" --storage-driver vfs \
        --cgroup-manager cgroupfs --events-backend file system service --time=0 "unix://$(podman_sock)"
    wait_ready podman "the Docker-compatible API (_ping)" podman_ping
    say "podman started (pid $(our_pid podman), unix://$(podman_sock))"
}

stop_podman() { stop_instance podman TERM; }

# ---------------------------------------------------------------------------------------- env and status

emit() { printf 'export %s=%q\n' "$1" "$2"; }

# Rewrites env.sh from what is running now, so it never names a stopped service.
write_env() {
    {
        echo "# Written by scripts/services.sh from the services running now; the pytest fixtures read it."
        emit POSTURE_SERVICES_DIR "$DIR"
        if our_pid dockerd >/dev/null; then
            emit POSTURE_TEST_DOCKER_HOST "unix://$(docker_sock)"
            emit POSTURE_TEST_DOCKER_TLS_HOST "$(docker_tls_url)"
            emit POSTURE_TEST_DOCKER_CERT_PATH "$DIR/dockerd/tls/client"
            emit POSTURE_TEST_BUSYBOX_IMAGE "$BUSYBOX_IMAGE"
        fi
        if our_pid registry-plain >/dev/null; then
            emit POSTURE_TEST_REGISTRY_PLAIN "127.0.0.1:$(registry_port registry-plain)"
        fi
        if our_pid registry-tls >/dev/null; then
            emit POSTURE_TEST_REGISTRY_TLS "127.0.0.1:$(registry_port registry-tls)"
            emit POSTURE_TEST_REGISTRY_CA "$DIR/registry-tls/ca.crt"
            emit POSTURE_TEST_REGISTRY_CERT_DIR "$DIR/registry-tls/certs.d"
            emit POSTURE_TEST_REGISTRY_USER "$REGISTRY_USER"
            emit POSTURE_TEST_REGISTRY_PASSWORD "$(registry_password)"
        fi
        if our_pid postgres >/dev/null; then
            emit POSTURE_TEST_PG_URL "postgresql://$PG_ROLE@127.0.0.1:$(pg_port)/$PG_DATABASE"
        fi
        if our_pid podman >/dev/null; then
            emit POSTURE_TEST_PODMAN_HOST "unix://$(podman_sock)"
        fi
        if our_pid sshd >/dev/null; then
            emit POSTURE_TEST_SSH_DOCKER_HOST "ssh://root@127.0.0.1:$(sshd_port)"
            emit POSTURE_TEST_SSH_KEY "$DIR/sshd/client_ed25519"
            emit POSTURE_TEST_SSH_KNOWN_HOSTS "$DIR/sshd/known_hosts"
        fi
    } >"$DIR/env.sh.tmp"
    mv "$DIR/env.sh.tmp" "$DIR/env.sh"
}

status_instance() {
    local name=$1 pid
    if pid=$(our_pid "$name"); then
        say "$name running (pid $pid)"
    else
        say "$name stopped"
        return 1
    fi
}

usage() {
    echo "usage: scripts/services.sh start|stop|status|env [all|dockerd|registry|postgres|podman|sshd]" >&2
    exit 2
}

main() {
    local action=${1:-} target=${2:-all} services instances
    case $target in
        # podman and sshd are optional: "start all" leaves them out, "stop all" stops them too if they run.
        all)
            services=(dockerd registry postgres)
            if [ "$action" = stop ]; then services=(sshd "${services[@]}" podman); fi
            ;;
        dockerd | registry | postgres | podman | sshd) services=("$target") ;;
        *) usage ;;
    esac
    instances=()
    local s
    for s in "${services[@]}"; do
        if [ "$s" = registry ]; then instances+=(registry-plain registry-tls); else instances+=("$s"); fi
    done

    # One services.sh at a time per state directory (two pytest sessions may start services at once).
    exec 9>"$DIR/.lock"
    flock -w $((TIMEOUT * 4)) 9 || die "another services.sh still holds $DIR/.lock"

    case $action in
        start)
            for s in "${services[@]}"; do "start_$s"; done
            write_env
            ;;
        stop)
            for s in "${services[@]}"; do "stop_$s"; done
            write_env
            ;;
        status)
            local rc=0
            for s in "${instances[@]}"; do status_instance "$s" || rc=3; done
            return "$rc"
            ;;
        env)
            write_env
            cat "$DIR/env.sh"
            ;;
        *) usage ;;
    esac
}

main "$@"
