#!/usr/bin/env bash
# A throwaway Redis server for tests: installs Debian's redis-server if it is missing, then
# runs one server with its files in a folder of its own, on 127.0.0.1 at a given port.
#
#   scripts/redis.sh install          make sure redis-server and redis-cli are installed
#   scripts/redis.sh start DIR PORT   start a server in DIR (pidfile, log), wait for PING
#   scripts/redis.sh stop DIR         stop the server of DIR (fine if not running)
#
# Nothing is persisted (no RDB snapshots, no AOF): it holds the bot's scratch FSM state of one
# test run. No password; it listens on 127.0.0.1 only. REDIS_SERVER=/path/to/redis-server
# picks another binary (redis-cli is then looked for next to it, then on PATH). Exits
# non-zero with a message on failure.
set -euo pipefail

PROG="$(basename "$0")"
START_TIMEOUT=20 # seconds to wait for PING
STOP_TIMEOUT=10  # seconds to wait for the process to exit after SIGTERM

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

find_server() {
    if [[ -n "${REDIS_SERVER:-}" ]]; then
        [[ -x "$REDIS_SERVER" ]] && printf '%s\n' "$REDIS_SERVER"
        return 0
    fi
    command -v redis-server 2>/dev/null || true
}

find_cli() {
    local server="$1"
    if [[ -x "$(dirname "$server")/redis-cli" ]]; then
        printf '%s\n' "$(dirname "$server")/redis-cli"
        return 0
    fi
    command -v redis-cli 2>/dev/null || true
}

install_server() {
    if [[ -n "${REDIS_SERVER:-}" ]]; then
        die "REDIS_SERVER=$REDIS_SERVER is not an executable file"
    fi
    if [[ "$(id -u)" -ne 0 ]]; then
        die "redis-server is not installed and this is not root:" \
            "install it with 'sudo apt-get install -y redis-server' (or set REDIS_SERVER)"
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "redis-server is not installed and there is no apt-get to install it"
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -q --no-install-recommends)
    say "no redis-server found: running apt-get update"
    "${apt[@]}" update >&2 || die "apt-get update failed"
    say "running apt-get install -y redis-server"
    "${apt[@]}" install redis-server >&2 || die "apt-get install -y redis-server failed"
    # Only the binaries are wanted. Where services start on install (no policy-rc.d), the
    # package has started a system server on port 6379: stop it, our servers are our own.
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
        systemctl disable --now redis-server >/dev/null 2>&1 || true
    elif command -v invoke-rc.d >/dev/null 2>&1; then
        invoke-rc.d redis-server stop >/dev/null 2>&1 || true
    fi
}

# Print the path of redis-server, installing it first when needed.
ensure_server() {
    local server
    server="$(find_server)"
    if [[ -z "$server" ]]; then
        install_server
        server="$(find_server)"
        [[ -n "$server" ]] || die "apt-get installed redis-server but it is not on PATH"
        say "installed $("$server" --version)"
    fi
    printf '%s\n' "$server"
}

check_dir_arg() {
    [[ -n "${1:-}" ]] || usage
    [[ "$1" == /* ]] || die "DIR must be an absolute path, got '$1'"
}

# The pid of DIR's server if it is a live redis-server, else nothing.
running_pid() {
    local dir="$1" pid
    [[ -f "$dir/redis.pid" ]] || return 0
    pid="$(tr -dc '0-9' <"$dir/redis.pid")"
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null && grep -q redis "/proc/$pid/comm" 2>/dev/null; then
        printf '%s\n' "$pid"
    fi
}

cmd_start() {
    local dir="${1:-}" port="${2:-}"
    check_dir_arg "$dir"
    [[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) ||
        die "PORT must be a number from 1 to 65535, got '${port}'"

    local server cli log="$dir/redis.log"
    server="$(ensure_server)"
    cli="$(find_cli "$server")"
    [[ -n "$cli" ]] || die "redis-cli is missing (Debian's redis-tools package)"

    mkdir -p "$dir"
    chmod 700 "$dir"
    if [[ -n "$(running_pid "$dir")" ]]; then
        say "already running: $dir (port $(cat "$dir/port" 2>/dev/null || echo '?'))"
        return 0
    fi
    rm -f "$dir/redis.pid"
    printf '%s\n' "$port" >"$dir/port"

    say "starting redis-server on 127.0.0.1:$port (log: $log)"
    # --save "" and --appendonly no: nothing is written to disk. protected-mode stays on.
    if ! "$server" --bind 127.0.0.1 --port "$port" --dir "$dir" \
        --daemonize yes --pidfile "$dir/redis.pid" --logfile "$log" \
        --save "" --appendonly no --protected-mode yes --databases 16 \
        >>"$log" 2>&1; then
        cat "$log" >&2 || true
        die "redis-server refused to start on 127.0.0.1:$port"
    fi

    local deadline=$((SECONDS + START_TIMEOUT)) answer="" reason
    reason="it did not answer PING within ${START_TIMEOUT}s"
    while ((SECONDS < deadline)); do
        answer="$("$cli" -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)"
        # PONG counts only from our own server, not from another one already on this port.
        if [[ "$answer" == "PONG" && -n "$(running_pid "$dir")" ]]; then
            say "ready: redis://127.0.0.1:$port/0"
            return 0
        fi
        if grep -q 'aborting' "$log" 2>/dev/null; then
            reason="it exited"
            break
        fi
        sleep 0.1
    done
    say "server log $log:"
    cat "$log" >&2 || true
    local pid
    pid="$(running_pid "$dir")"
    [[ -z "$pid" ]] || kill "$pid" 2>/dev/null || true
    die "redis-server did not start on 127.0.0.1:$port: $reason"
}

cmd_stop() {
    local dir="${1:-}" pid
    check_dir_arg "$dir"
    pid="$(running_pid "$dir")"
    if [[ -z "$pid" ]]; then
        say "not running: $dir"
        return 0
    fi
    say "stopping redis-server $pid ($dir)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            say "no exit after ${STOP_TIMEOUT}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
            kill -0 "$pid" 2>/dev/null && die "redis-server $pid did not stop"
            break
        fi
        sleep 0.1
    done
    rm -f "$dir/redis.pid"
}

main() {
    local command="${1:-}"
    shift || true
    case "$command" in
    install)
        local server
        server="$(ensure_server)"
        say "redis-server: $server ($("$server" --version))"
        ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    *) usage ;;
    esac
}

main "$@"
