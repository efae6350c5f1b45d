#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests: installs the server if it is missing, then runs
# one cluster in a folder of its own, on 127.0.0.1 at a given port, with trust auth.
#
#   scripts/postgres.sh install          make sure the server binaries are installed
#   scripts/postgres.sh bindir           print the folder holding pg_ctl and initdb
#   scripts/postgres.sh start DIR PORT   create (first time) and start a cluster in DIR
#   scripts/postgres.sh stop DIR         stop the cluster in DIR (fine if not running)
#
# DIR must be somewhere the server's user can reach (e.g. a fresh folder under /tmp). As root
# the cluster runs as the `postgres` system user (initdb refuses root); otherwise as the caller.
# The superuser is `postgres`, without a password; the Unix socket is in DIR too.
# PG_BINDIR=/path/to/bin picks a server other than the newest in /usr/lib/postgresql/*/bin
# (PG_LIBDIR changes that /usr/lib/postgresql). Exits non-zero with a message on failure.
set -euo pipefail

PROG="$(basename "$0")"
SERVER_USER="postgres"
PG_LIBDIR="${PG_LIBDIR:-/usr/lib/postgresql}"

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

usage() {
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# The newest /usr/lib/postgresql/<version>/bin that has both pg_ctl and initdb, or nothing.
find_bindir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then
        if [[ -x "$PG_BINDIR/pg_ctl" && -x "$PG_BINDIR/initdb" ]]; then
            printf '%s\n' "$PG_BINDIR"
        fi
        return 0
    fi
    local dir best="" best_version=-1 version
    for dir in "$PG_LIBDIR"/*/bin; do
        [[ -x "$dir/pg_ctl" && -x "$dir/initdb" ]] || continue
        version="$(basename "$(dirname "$dir")")"
        version="${version%%.*}"
        [[ "$version" =~ ^[0-9]+$ ]] || version=0
        if ((version > best_version)); then
            best="$dir"
            best_version="$version"
        fi
    done
    if [[ -n "$best" ]]; then
        printf '%s\n' "$best"
    fi
}

install_server() {
    if [[ -n "${PG_BINDIR:-}" ]]; then
        die "PG_BINDIR=$PG_BINDIR has no executable pg_ctl and initdb"
    fi
    if [[ "$(id -u)" -ne 0 ]]; then
        die "no PostgreSQL server under $PG_LIBDIR/*/bin and not root:" \
            "install it with 'sudo apt-get install -y postgresql' (or set PG_BINDIR)"
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "no PostgreSQL server under $PG_LIBDIR/*/bin and no apt-get to install it"
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -q --no-install-recommends)
    say "no PostgreSQL server found: running apt-get update"
    "${apt[@]}" update >&2 || die "apt-get update failed"
    # Only the binaries are wanted: keep the package from creating and starting a cluster of
    # its own on port 5432 (postgresql-common's switch, set as the postgres Docker image does).
    say "running apt-get install -y postgresql-common"
    "${apt[@]}" install postgresql-common >&2 || die "apt-get install -y postgresql-common failed"
    local conf=/etc/postgresql-common/createcluster.conf
    local off='^[[:space:]]*create_main_cluster[[:space:]]*=[[:space:]]*false'
    if [[ -f "$conf" ]] && ! grep -Eq "$off" "$conf"; then
        say "setting create_main_cluster = false in $conf"
        sed -ri 's/^[#[:space:]]*(create_main_cluster)[[:space:]]*=.*$/\1 = false/' "$conf"
        grep -Eq "$off" "$conf" || echo 'create_main_cluster = false' >>"$conf"
    fi
    say "running apt-get install -y postgresql"
    "${apt[@]}" install postgresql >&2 || die "apt-get install -y postgresql failed"
}

# Print the server's bin folder, installing the server first when needed.
ensure_server() {
    local bindir
    bindir="$(find_bindir)"
    if [[ -z "$bindir" ]]; then
        install_server
        bindir="$(find_bindir)"
        [[ -n "$bindir" ]] ||
            die "apt-get installed postgresql but no $PG_LIBDIR/*/bin/pg_ctl appeared"
        say "installed PostgreSQL server: $bindir"
    fi
    printf '%s\n' "$bindir"
}

# Run a command as the server's user (root) or as ourselves, from a folder it can read.
as_server() {
    if [[ "$(id -u)" -eq 0 ]]; then
        (cd / && runuser -u "$SERVER_USER" -- "$@")
    else
        (cd / && "$@")
    fi
}

check_dir_arg() {
    [[ -n "${1:-}" ]] || usage
    [[ "$1" == /* ]] || die "DIR must be an absolute path, got '$1'"
}

is_running() {
    local bindir="$1" data="$2"
    [[ -f "$data/postmaster.pid" ]] && as_server "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

cmd_start() {
    local dir="${1:-}" port="${2:-}"
    check_dir_arg "$dir"
    [[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) ||
        die "PORT must be a number from 1 to 65535, got '${port}'"
    # The server refuses socket paths longer than the kernel's limit (107 bytes).
    ((${#dir} + 20 < 107)) || die "DIR is too long for a Unix socket path: $dir"

    local bindir data="$dir/data" log="$dir/server.log"
    bindir="$(ensure_server)"

    if [[ "$(id -u)" -eq 0 ]]; then
        id -u "$SERVER_USER" >/dev/null 2>&1 ||
            die "running as root but there is no '$SERVER_USER' user to run the server as" \
                "(the Debian postgresql package creates it)"
        command -v runuser >/dev/null 2>&1 || die "running as root but runuser is missing"
    fi
    mkdir -p "$dir"
    if [[ "$(id -u)" -eq 0 ]]; then
        chown "$SERVER_USER:" "$dir"
    fi
    chmod 700 "$dir"
    as_server test -w "$dir" -a -x "$dir" ||
        die "$dir is not writable by user '$(as_server id -un)': is a parent folder private?"

    if is_running "$bindir" "$data"; then
        say "already running: $data"
        return 0
    fi

    if [[ ! -f "$data/PG_VERSION" ]]; then
        say "initdb $data ($bindir)"
        local out
        if ! out="$(as_server "$bindir/initdb" -D "$data" -U postgres --auth=trust \
            --encoding=UTF8 --no-locale --no-sync 2>&1)"; then
            printf '%s\n' "$out" >&2
            die "initdb failed for $data"
        fi
        as_server tee -a "$data/postgresql.conf" >/dev/null <<EOF

# Throwaway test cluster (scripts/postgres.sh): fast and unsafe on purpose.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
EOF
    fi

    say "starting PostgreSQL on 127.0.0.1:$port (log: $log)"
    if ! as_server "$bindir/pg_ctl" -D "$data" -l "$log" -o "-p $port" -w -t 30 start \
        >/dev/null; then
        say "server log $log:"
        cat "$log" >&2 || true
        die "the server did not start on 127.0.0.1:$port"
    fi
    say "ready: postgresql://postgres@127.0.0.1:$port/postgres"
}

cmd_stop() {
    local dir="${1:-}"
    check_dir_arg "$dir"
    local bindir data="$dir/data"
    bindir="$(find_bindir)"
    [[ -n "$bindir" ]] || die "no PostgreSQL server under $PG_LIBDIR/*/bin"
    if ! is_running "$bindir" "$data"; then
        say "not running: $data"
        return 0
    fi
    say "stopping $data"
    as_server "$bindir/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null ||
        die "the server in $data did not stop"
}

main() {
    local command="${1:-}"
    shift || true
    case "$command" in
    install)
        ensure_server >/dev/null
        say "PostgreSQL server binaries: $(find_bindir)"
        ;;
    bindir) ensure_server ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    *) usage ;;
    esac
}

main "$@"
