#!/usr/bin/env bash
# PettySync development services: PostgreSQL, Redis, Mosquitto, a MongoDB wire
# server (nx-27017), an S3 API (s3s-fs) and an SNS API (moto), all on loopback.
#
# Usage: scripts/services.sh up|down|env|status
#
#   up      install what is missing, start every service that is not already
#           answering, then print the env lines (same as `env`).
#           Typical use:  eval "$(scripts/services.sh up)"
#   down    stop the services this script started itself (never one that was
#           already running before it)
#   env     print `export NAME='value'` lines for the server and the tests
#   status  one line per service: up or down (exit status 1 if any is down)
#
# Only the env lines go to stdout; every other message goes to stderr.
#
# State (configs, logs, pid files, data, ownership markers) lives in
# $PETTYSYNC_SERVICES_DIR, by default <repo root>/.services.
# A marker file $STATE/<service>.owned means "this script started it".
#
# Environment knobs:
#   PETTYSYNC_SERVICES_DIR    state directory (default <repo>/.services)
#   PETTYSYNC_SERVICES_WAIT   seconds to wait for a service to answer (default 30)
#   PETTYSYNC_CARGO_WAIT      seconds to wait for a concurrent `cargo install s3s-fs` (default 1200)

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
STATE=${PETTYSYNC_SERVICES_DIR:-$REPO_ROOT/.services}
WAIT_SECS=${PETTYSYNC_SERVICES_WAIT:-30}
CARGO_WAIT_SECS=${PETTYSYNC_CARGO_WAIT:-1200}

HOST=127.0.0.1
PG_PORT=5432
REDIS_PORT=6379
MQTT_PORT=1883
MONGO_PORT=27017
S3_PORT=9000
SNS_PORT=9911

DB_NAME=pettysync
S3_BUCKET=pettysync
AWS_KEY=pettysync-dev
AWS_SECRET=pettysync-dev-secret

NX_VERSION=0.8.1
MOTO_SPEC='moto[server]==5.2.*'
S3S_VERSION=0.14.1

SERVICES=(postgres redis mosquitto mongodb s3 sns)

# Make sure the usual tool locations are searched even from a minimal PATH.
for _d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin "${HOME:-/root}/.cargo/bin"; do
    case ":$PATH:" in *":$_d:"*) ;; *) PATH="$PATH:$_d" ;; esac
done
export PATH
unset _d

# ---------------------------------------------------------------- helpers

log() { printf 'services.sh: %s\n' "$*" >&2; }
DIED=0
die() {
    DIED=1
    printf 'services.sh: ERROR: %s\n' "$*" >&2
    exit 1
}

# Service being brought up (named in failure messages).
CURRENT_SERVICE=""
svc_fail() { die "${CURRENT_SERVICE:+$CURRENT_SERVICE did not come up: }$*"; }

# Any other failure (set -e) while bringing a service up still names it.
on_exit() {
    local rc=$?
    if ((rc != 0 && DIED == 0)) && [[ -n $CURRENT_SERVICE ]]; then
        printf 'services.sh: ERROR: %s did not come up (unexpected error, exit status %d)\n' "$CURRENT_SERVICE" "$rc" >&2
    fi
}
trap on_exit EXIT

# Print the last lines of a log file to stderr (for failure diagnostics).
show_log() {
    local f=$1
    if [[ -s $f ]]; then
        printf -- '----- last lines of %s -----\n' "$f" >&2
        tail -n 25 "$f" >&2 || true
        printf -- '-----\n' >&2
    fi
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    # shellcheck disable=SC2016  # $0/$1 are expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$1" 2>/dev/null
}

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# True if process $1 is alive and its command line contains $2.
pid_matches() {
    local pid=$1 pattern=$2 cmdline
    pid_alive "$pid" || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmdline == *"$pattern"* ]]
}

# wait_until <service> <check-function> [pid-that-must-stay-alive] [log-file]
# Polls every 0.2 s until the check passes or WAIT_SECS elapse.
wait_until() {
    local name=$1 check=$2 pid=${3:-} logf=${4:-}
    local deadline=$((SECONDS + WAIT_SECS))
    while ((SECONDS < deadline)); do
        if "$check"; then
            return 0
        fi
        if [[ -n $pid ]] && ! pid_alive "$pid"; then
            # The process we started has gone; maybe somebody else holds the port.
            if "$check"; then return 0; fi
            [[ -n $logf ]] && show_log "$logf"
            die "$name did not come up: its process (pid $pid) exited"
        fi
        sleep 0.2
    done
    [[ -n $logf ]] && show_log "$logf"
    if [[ -n $pid ]] && pid_alive "$pid"; then
        log "$name: stopping the process that did not come up (pid $pid)"
        terminate "$name" "$pid"
    fi
    die "$name did not come up on $HOST within ${WAIT_SECS}s"
}

# ------------------------------------------------------ package installation

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null || svc_fail "apt-get not found; cannot install: $*"
    ((EUID == 0)) || svc_fail "need root to install Debian packages: $* (run as root or install them first)"
    export DEBIAN_FRONTEND=noninteractive
    if ((APT_UPDATED == 0)); then
        log "apt-get update"
        apt-get -o DPkg::Lock::Timeout=300 update -q </dev/null >&2 \
            || svc_fail "apt-get update failed (needed to install: $*)"
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "$@" </dev/null >&2 \
        || svc_fail "apt-get install $* failed"
}

ensure_pip() {
    if command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
        return 0
    fi
    apt_install python3 python3-pip
    python3 -m pip --version >/dev/null 2>&1 || svc_fail "python3 -m pip still does not work after installing python3-pip"
}

pip_install() {
    ensure_pip
    log "pip install $*"
    # PIP_BREAK_SYSTEM_PACKAGES: Debian 12's own python3 is "externally managed"
    # (PEP 668); the variable is ignored by pythons that are not.
    PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --root-user-action=ignore "$@" </dev/null >&2 \
        || svc_fail "pip install $* failed"
    if command -v pyenv >/dev/null; then pyenv rehash >/dev/null 2>&1 || true; fi
    hash -r
}

# Path of a console script installed by pip: PATH first, then python3's scripts dir.
find_py_tool() {
    local name=$1 dir
    if command -v "$name" >/dev/null; then
        command -v "$name"
        return 0
    fi
    if command -v python3 >/dev/null; then
        dir=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)
        if [[ -n $dir && -x $dir/$name ]]; then
            printf '%s\n' "$dir/$name"
            return 0
        fi
    fi
    return 1
}

# Start a long-running foreground program detached from this script (own
# session, stdio to a log file, no inherited stdout), so it outlives the script
# and `eval "$(services.sh up)"` does not wait for it. Prints its pid.
spawn() {
    local logf=$1
    shift
    cd "$STATE" # runs in the caller's $(...) subshell, so this cd is local
    setsid nohup "$@" </dev/null >>"$logf" 2>&1 &
    printf '%s\n' "$!"
}

# Record that this script started <service> (pid or other data in the marker).
mark_owned() { printf '%s\n' "$2" >"$STATE/$1.owned"; }
owned_data() { cat "$STATE/$1.owned" 2>/dev/null || true; }

# ------------------------------------------------------------- PostgreSQL

pg_ready() {
    if command -v pg_isready >/dev/null; then
        pg_isready -q -h "$HOST" -p "$PG_PORT" >/dev/null 2>&1
    else
        port_open "$PG_PORT"
    fi
}

pg_psql() {
    psql -X -w -q -h "$HOST" -p "$PG_PORT" -U postgres "$@" </dev/null
}

pg_version_for_cluster() {
    # Highest version that has a configured "main" cluster.
    local d v=""
    for d in /etc/postgresql/*/main; do
        [[ -d $d ]] || continue
        d=${d%/main}
        v=$(printf '%s\n' "$v" "${d##*/}" | sort -V | tail -n 1)
    done
    [[ -n $v ]] && printf '%s\n' "$v"
}

ensure_postgres() {
    local touched=0 ver logf="$STATE/postgres-ctl.log"
    if pg_ready; then
        log "postgres: already running on $HOST:$PG_PORT"
    else
        if ! command -v pg_ctlcluster >/dev/null || ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
            apt_install postgresql
            touched=1
        fi
        if pg_ready; then
            log "postgres: running after package install"
        else
            if ! ver=$(pg_version_for_cluster); then
                ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
                log "postgres: creating cluster $ver/main"
                pg_createcluster "$ver" main >>"$logf" 2>&1 </dev/null \
                    || { show_log "$logf"; die "postgres did not come up: pg_createcluster $ver main failed"; }
            fi
            log "postgres: starting cluster $ver/main"
            pg_ctlcluster --skip-systemctl-redirect "$ver" main start >>"$logf" 2>&1 </dev/null \
                || { show_log "$logf"; show_log "/var/log/postgresql/postgresql-$ver-main.log"; die "postgres did not come up: pg_ctlcluster $ver main start failed"; }
            wait_until postgres pg_ready "" "/var/log/postgresql/postgresql-$ver-main.log"
            mark_owned postgres "$ver main"
            touched=1
        fi
    fi

    command -v psql >/dev/null || apt_install postgresql-client

    if ! pg_psql -d postgres -Atc 'select 1' >/dev/null 2>&1; then
        if ((touched == 1)); then
            ver=$(pg_version_for_cluster) || die "postgres did not come up: cannot find the cluster config to allow trust auth"
            local hba="/etc/postgresql/$ver/main/pg_hba.conf"
            log "postgres: allowing passwordless 'postgres' on $HOST (host all all 127.0.0.1/32 trust in $hba)"
            [[ -f $hba.pettysync-orig ]] || cp -p "$hba" "$hba.pettysync-orig"
            # First matching line wins, so put ours first.
            sed -i '1i host all all 127.0.0.1/32 trust  # added by pettysync scripts/services.sh' "$hba"
            pg_ctlcluster --skip-systemctl-redirect "$ver" main reload >>"$logf" 2>&1 </dev/null \
                || { show_log "$logf"; die "postgres did not come up: reload after pg_hba.conf change failed"; }
            local deadline=$((SECONDS + WAIT_SECS))
            until pg_psql -d postgres -Atc 'select 1' >/dev/null 2>&1; do
                ((SECONDS < deadline)) || die "postgres did not come up: still cannot connect as postgres on $HOST without a password"
                sleep 0.2
            done
        else
            die "postgres is not usable: it runs on $HOST:$PG_PORT but does not accept user postgres without a password; it was not started by this script, so its pg_hba.conf is left alone"
        fi
    fi

    if [[ $(pg_psql -d postgres -Atc "select 1 from pg_database where datname = '$DB_NAME'") != 1 ]]; then
        log "postgres: creating database $DB_NAME"
        pg_psql -d postgres -c "create database $DB_NAME" >/dev/null \
            || die "postgres is not usable: could not create database $DB_NAME"
    fi
}

# ------------------------------------------------------------------ Redis

redis_ready() {
    if command -v redis-cli >/dev/null; then
        [[ $(timeout 3 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null </dev/null) == PONG ]]
    else
        port_open "$REDIS_PORT"
    fi
}

ensure_redis() {
    if redis_ready; then
        log "redis: already running on $HOST:$REDIS_PORT"
        return 0
    fi
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        apt_install redis-server
        if redis_ready; then
            log "redis: running after package install"
            return 0
        fi
    fi
    log "redis: starting on $HOST:$REDIS_PORT"
    rm -f "$STATE/redis.pid"
    redis-server --daemonize yes --bind "$HOST" --port "$REDIS_PORT" --save "" --appendonly no \
        --dir "$STATE" --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log" \
        </dev/null >>"$STATE/redis.out" 2>&1 \
        || { show_log "$STATE/redis.out"; show_log "$STATE/redis.log"; die "redis did not come up: redis-server failed to start"; }
    wait_until redis redis_ready "" "$STATE/redis.log"
    local deadline=$((SECONDS + 5))
    while [[ ! -s $STATE/redis.pid ]] && ((SECONDS < deadline)); do sleep 0.2; done
    mark_owned redis "$(cat "$STATE/redis.pid" 2>/dev/null || true)"
}

# -------------------------------------------------------------- Mosquitto

mqtt_ready() { port_open "$MQTT_PORT"; }

ensure_mosquitto() {
    if mqtt_ready; then
        log "mosquitto: something already listens on $HOST:$MQTT_PORT, using it"
        return 0
    fi
    if ! command -v mosquitto >/dev/null || ! command -v mosquitto_pub >/dev/null; then
        apt_install mosquitto mosquitto-clients
        if mqtt_ready; then
            log "mosquitto: running after package install"
            return 0
        fi
    fi
    # Run as root, mosquitto drops to user "mosquitto" before it opens its pid
    # and log files, so they live in a directory that user owns.
    local dir="$STATE/mosquitto" conf="$STATE/mosquitto.conf" user_line=""
    mkdir -p "$dir" || die "mosquitto did not come up: cannot create $dir"
    if ((EUID == 0)); then
        if id mosquitto >/dev/null 2>&1; then
            chown mosquitto: "$dir"
            if ! runuser -u mosquitto -- test -w "$dir" 2>/dev/null; then
                log "mosquitto: user mosquitto cannot reach $dir; running the broker as root"
                user_line="user root"
            fi
        else
            user_line="user root"
        fi
    fi
    rm -f "$dir/mosquitto.pid"
    cat >"$conf" <<EOF
# Written by scripts/services.sh. Every limit is Mosquitto's default (the server speaks
# MQTT 5 and sets its own Receive Maximum), but for the message size: the collar protocol's
# largest message is a 640 KiB voice clip; anything over 1 MiB is refused at the broker
# (the server dead-letters a message between its channel's limit and that as too_large).
listener $MQTT_PORT $HOST
allow_anonymous true
message_size_limit 1048576
persistence false
pid_file $dir/mosquitto.pid
log_dest file $dir/mosquitto.log
$user_line
EOF
    log "mosquitto: starting on $HOST:$MQTT_PORT"
    mosquitto -d -c "$conf" </dev/null >>"$STATE/mosquitto.out" 2>&1 \
        || { show_log "$STATE/mosquitto.out"; show_log "$dir/mosquitto.log"; die "mosquitto did not come up: mosquitto -d failed"; }
    wait_until mosquitto mqtt_ready "" "$dir/mosquitto.log"
    local deadline=$((SECONDS + 5))
    while [[ ! -s $dir/mosquitto.pid ]] && ((SECONDS < deadline)); do sleep 0.2; done
    mark_owned mosquitto "$(cat "$dir/mosquitto.pid" 2>/dev/null || true)"
}

# ------------------------------------------------- MongoDB wire (nx-27017)

mongo_ready() { port_open "$MONGO_PORT"; }

ensure_mongodb() {
    if mongo_ready; then
        log "mongodb: something already listens on $HOST:$MONGO_PORT, using it"
        return 0
    fi
    local bin
    if ! bin=$(find_py_tool nx-27017) || ! python3 -c 'import pymongo' >/dev/null 2>&1; then
        pip_install "nx-27017==$NX_VERSION" pymongo
        bin=$(find_py_tool nx-27017) || die "mongodb did not come up: nx-27017 not found after pip install"
    fi
    mkdir -p "$STATE/mongo" || die "mongodb did not come up: cannot create $STATE/mongo"
    log "mongodb: starting nx-27017 on $HOST:$MONGO_PORT"
    local pid
    pid=$(spawn "$STATE/mongo.out" "$bin" --data-dir "$STATE/mongo" -p "$MONGO_PORT" --host "$HOST" \
        --log-file "$STATE/mongo.log" --pid-file "$STATE/mongo.pid")
    wait_until mongodb mongo_ready "$pid" "$STATE/mongo.out"
    if pid_alive "$pid"; then mark_owned mongodb "$pid"; fi
}

# ------------------------------------------------------------ S3 (s3s-fs)

s3_ready() { port_open "$S3_PORT"; }

find_s3s_fs() {
    if command -v s3s-fs >/dev/null; then command -v s3s-fs; return 0; fi
    [[ -x ${HOME:-/root}/.cargo/bin/s3s-fs ]] && { printf '%s\n' "${HOME:-/root}/.cargo/bin/s3s-fs"; return 0; }
    return 1
}

cargo_install_running() {
    command -v pgrep >/dev/null && pgrep -f '(^|/)cargo install s3s-fs' >/dev/null 2>&1
}

install_s3s_fs() {
    if cargo_install_running; then
        log "s3: another 'cargo install s3s-fs' is running; waiting for it (up to ${CARGO_WAIT_SECS}s)"
        local deadline=$((SECONDS + CARGO_WAIT_SECS))
        while cargo_install_running; do
            ((SECONDS < deadline)) || die "s3 did not come up: the running 'cargo install s3s-fs' did not finish within ${CARGO_WAIT_SECS}s"
            sleep 2
        done
        find_s3s_fs >/dev/null && return 0
        log "s3: the other install finished without producing s3s-fs; installing it myself"
    fi
    command -v cargo >/dev/null || die "s3 did not come up: s3s-fs is missing and cargo is not installed (install Rust with rustup first)"
    command -v cc >/dev/null || apt_install gcc libc6-dev
    log "s3: cargo install s3s-fs@$S3S_VERSION (takes a few minutes; log: $STATE/s3s-fs-install.log)"
    cargo install "s3s-fs@$S3S_VERSION" --features binary --locked </dev/null >"$STATE/s3s-fs-install.log" 2>&1 \
        || { show_log "$STATE/s3s-fs-install.log"; die "s3 did not come up: cargo install s3s-fs@$S3S_VERSION failed"; }
    hash -r
}

ensure_s3() {
    # s3s-fs maps a bucket to a directory under its root.
    mkdir -p "$STATE/s3/$S3_BUCKET" || die "s3 did not come up: cannot create $STATE/s3/$S3_BUCKET"
    if s3_ready; then
        log "s3: something already listens on $HOST:$S3_PORT, using it"
        if [[ -z $(owned_data s3) ]]; then
            log "s3: (not started by this script: make sure bucket '$S3_BUCKET' exists there)"
        fi
        return 0
    fi
    local bin
    if ! bin=$(find_s3s_fs); then
        install_s3s_fs
        bin=$(find_s3s_fs) || die "s3 did not come up: s3s-fs not found after cargo install"
    fi
    log "s3: starting s3s-fs on $HOST:$S3_PORT (root $STATE/s3, bucket $S3_BUCKET)"
    local pid
    pid=$(spawn "$STATE/s3.log" "$bin" --host "$HOST" --port "$S3_PORT" \
        --access-key "$AWS_KEY" --secret-key "$AWS_SECRET" "$STATE/s3")
    wait_until s3 s3_ready "$pid" "$STATE/s3.log"
    if pid_alive "$pid"; then mark_owned s3 "$pid"; fi
}

# ------------------------------------------------------------ SNS (moto)

sns_ready() { port_open "$SNS_PORT"; }

ensure_sns() {
    if sns_ready; then
        log "sns: something already listens on $HOST:$SNS_PORT, using it"
        return 0
    fi
    local bin
    if ! bin=$(find_py_tool moto_server); then
        pip_install "$MOTO_SPEC"
        bin=$(find_py_tool moto_server) || die "sns did not come up: moto_server not found after pip install"
    fi
    log "sns: starting moto_server on $HOST:$SNS_PORT"
    local pid
    pid=$(spawn "$STATE/sns.log" "$bin" -H "$HOST" -p "$SNS_PORT")
    wait_until sns sns_ready "$pid" "$STATE/sns.log"
    if pid_alive "$pid"; then mark_owned sns "$pid"; fi
}

# ------------------------------------------------------------------- down

# Terminate a pid (its whole process group if it leads one), wait, then KILL.
terminate() {
    local name=$1 pid=$2 target pgid
    target=$pid
    pgid=$(awk '{print $5}' "/proc/$pid/stat" 2>/dev/null || true)
    [[ $pgid == "$pid" ]] && target="-$pid"
    kill -TERM -- "$target" 2>/dev/null || true
    local deadline=$((SECONDS + 15))
    while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    if pid_alive "$pid"; then
        log "$name: still running after SIGTERM, sending SIGKILL"
        kill -KILL -- "$target" 2>/dev/null || true
        sleep 0.2
    fi
}

# stop_pid_service <service> <cmdline-pattern> <port>
stop_pid_service() {
    local name=$1 pattern=$2 port=$3 pid
    pid=$(owned_data "$name")
    if [[ -z $pid ]]; then
        if [[ -f $STATE/$name.owned ]]; then
            log "$name: started by this script but its pid is unknown; not stopping it"
            rm -f "$STATE/$name.owned"
        else
            log "$name: not started by this script, leaving it alone"
        fi
        return 0
    fi
    if pid_matches "$pid" "$pattern"; then
        log "$name: stopping (pid $pid)"
        terminate "$name" "$pid"
    else
        log "$name: its process (pid $pid) is already gone"
    fi
    rm -f "$STATE/$name.owned"
    local deadline=$((SECONDS + 10))
    while port_open "$port" && ((SECONDS < deadline)); do sleep 0.2; done
    if port_open "$port"; then
        log "$name: note: something still listens on $HOST:$port (not ours)"
    fi
}

stop_postgres() {
    local data
    data=$(owned_data postgres)
    if [[ -z $data ]]; then
        log "postgres: not started by this script, leaving it alone"
        return 0
    fi
    local ver=${data%% *}
    log "postgres: stopping cluster $ver/main"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main stop -m fast >>"$STATE/postgres-ctl.log" 2>&1 </dev/null \
        || log "postgres: pg_ctlcluster $ver main stop failed (see $STATE/postgres-ctl.log)"
    rm -f "$STATE/postgres.owned"
}

cmd_down() {
    stop_pid_service sns moto_server "$SNS_PORT"
    stop_pid_service s3 s3s-fs "$S3_PORT"
    stop_pid_service mongodb nx-27017 "$MONGO_PORT"
    stop_pid_service mosquitto mosquitto "$MQTT_PORT"
    stop_pid_service redis redis-server "$REDIS_PORT"
    stop_postgres
}

# ------------------------------------------------------------- env/status

emit() {
    # Single-quote the value so `?` and friends survive eval.
    printf "export %s='%s'\n" "$1" "${2//\'/\'\\\'\'}"
}

cmd_env() {
    emit PETTYSYNC_DATABASE_URL "postgres://postgres@$HOST:$PG_PORT/$DB_NAME"
    emit PETTYSYNC_MONGODB_URL "mongodb://$HOST:$MONGO_PORT/pettysync"
    emit PETTYSYNC_REDIS_URL "redis://$HOST:$REDIS_PORT/0"
    emit PETTYSYNC_MQTT_URL "mqtt://$HOST:$MQTT_PORT?client_id=pettysync-1"
    emit PETTYSYNC_S3_ENDPOINT "http://$HOST:$S3_PORT"
    emit PETTYSYNC_S3_BUCKET "$S3_BUCKET"
    emit PETTYSYNC_SNS_ENDPOINT "http://$HOST:$SNS_PORT"
    emit AWS_REGION us-east-1
    emit AWS_ACCESS_KEY_ID "$AWS_KEY"
    emit AWS_SECRET_ACCESS_KEY "$AWS_SECRET"
}

cmd_status() {
    local svc check port state who any_down=0
    for svc in "${SERVICES[@]}"; do
        case $svc in
            postgres) check=pg_ready port=$PG_PORT ;;
            redis) check=redis_ready port=$REDIS_PORT ;;
            mosquitto) check=mqtt_ready port=$MQTT_PORT ;;
            mongodb) check=mongo_ready port=$MONGO_PORT ;;
            s3) check=s3_ready port=$S3_PORT ;;
            sns) check=sns_ready port=$SNS_PORT ;;
        esac
        if "$check"; then state=up; else state=down any_down=1; fi
        if [[ -f $STATE/$svc.owned ]]; then
            who="started by services.sh ($(owned_data "$svc"))"
        elif [[ $state == up ]]; then
            who="external"
        else
            who=""
        fi
        printf '%-10s %-5s %s:%-6s %s\n' "$svc" "$state" "$HOST" "$port" "$who"
    done
    return "$any_down"
}

cmd_up() {
    mkdir -p "$STATE" || die "cannot create the state directory $STATE"
    local svc
    for svc in "${SERVICES[@]}"; do
        CURRENT_SERVICE=$svc
        "ensure_$svc"
    done
    CURRENT_SERVICE=""
    log "all services are up (state in $STATE)"
}

usage() {
    cat >&2 <<EOF
usage: $(basename "$0") up|down|env|status

  up      install/start PostgreSQL, Redis, Mosquitto, MongoDB (nx-27017),
          S3 (s3s-fs) and SNS (moto) on $HOST if not running; print env lines
  down    stop only the services this script started
  env     print export lines:  eval "\$($(basename "$0") env)"
  status  one line per service, up or down

state directory: $STATE
EOF
}

main() {
    case ${1:-} in
        up)
            # Everything but the env lines goes to stderr; started daemons never
            # inherit the caller's stdout (bash keeps the saved copy close-on-exec).
            cmd_up >&2
            cmd_env
            ;;
        down)
            mkdir -p "$STATE"
            cmd_down >&2
            ;;
        env) cmd_env ;;
        status) cmd_status ;;
        -h | --help | help) usage ;;
        *)
            usage
            exit 2
            ;;
    esac
}

main "$@"
