#!/usr/bin/env bash
# The real docker-compose.yml, run for real with podman: images built from a local debootstrapped
# Debian 12 base (no container registry), `--scale worker=2`, a preset enqueued through the `cli`
# service, one worker container killed mid-task and Redis restarted, then every image checked done
# exactly once (files and checksums in the data volume, no temp files), the compose healthchecks
# run by hand, and everything torn down, volumes included. One summary line; exit 1 on any shortfall.
#
# Usage (root, Debian 12): bash scripts/test-farm-containers.sh
# Installs podman, debootstrap & co. with apt-get when missing, and podman-compose (PyPI) into a
# temporary venv; writes its own containers.conf (named by CONTAINERS_CONF; /etc is not touched).
# Publishes no port. Built images are kept (a second run reuses their layers); FARM_CI_RMI=1 removes
# them at the end. FARM_CI_CHARACTERS / FARM_CI_IMAGES size the dataset (default 8 x 4);
# FARM_CI_COMPARE=N also renders N characters with the 2 containers and with 2 local processes.
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null # CI has no standard input; nothing here reads one
T0=$(date +%s)
PROJECT=synthreid-ci
DATASET=ci-farm
CHARACTERS=${FARM_CI_CHARACTERS:-8}
IMAGES=${FARM_CI_IMAGES:-4}
TOTAL=$((CHARACTERS * IMAGES))
BASE_IMAGE=localhost/synthreid-base:bookworm
APP_IMAGE=localhost/synthreid-test:latest
WAIT_LIMIT=${FARM_CI_WAIT:-900} # seconds for the whole dataset to be rendered
WORK=$(mktemp -d /var/tmp/synthreid-farm-ci.XXXXXX)
SUMMARY=""
STAGE=setup

log() { echo "[farm-ci +$(($(date +%s) - T0))s] $*" >&2; }
fail() {
    echo "test-farm-containers: FAIL at ${STAGE}: $* ($(($(date +%s) - T0)) s)"
    exit 1
}

# ---- tools ---------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || fail "run as root (podman with root storage, debootstrap)"
need=()
for tool in podman:podman debootstrap:debootstrap runc:runc fuse-overlayfs:fuse-overlayfs \
    slirp4netns:slirp4netns newuidmap:uidmap; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
# Service names resolve on the compose network through CNI's dnsname plugin.
[ -x /usr/lib/cni/dnsname ] || need+=(containernetworking-plugins golang-github-containernetworking-plugin-dnsname)
if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
"$PY" -m venv "$WORK/tools"
"$WORK/tools/bin/pip" install -q podman-compose==1.6.0
# crun refuses this host's hybrid cgroup layout, and root may not raise the default ulimits.
cat >"$WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF="$WORK/containers.conf"
# Settings the compose file reads from .env; the process environment wins over any .env here.
export POSTGRES_USER=synthreid POSTGRES_DB=synthreid SYNTHREID_MAX_ATTEMPTS=3
export POSTGRES_PASSWORD="pg-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export REDIS_PASSWORD="redis-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export SYNTHREID_LEASE_SECONDS=${FARM_CI_LEASE:-20}
COMPOSE=("$WORK/tools/bin/podman-compose" -p "$PROJECT" -f docker-compose.yml -f tests/containers/compose.override.yml)
compose() { "${COMPOSE[@]}" "$@"; }

project_containers() { podman ps -aq --filter "label=io.podman.compose.project=$PROJECT"; }
project_volumes() { # named volumes of the project and anonymous ones of its containers (VOLUME in images)
    podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT"
    for id in $(project_containers); do
        podman inspect --format '{{range .Mounts}}{{if .Name}}{{.Name}}{{"\n"}}{{end}}{{end}}' "$id"
    done
}
down() { # down -v, every replica included (--remove-orphans), then the anonymous volumes
    local vols
    vols=$(project_volumes | sort -u)
    compose --profile cli down -v --remove-orphans -t 5 >"$WORK/down.log" 2>&1 || return 1
    for v in $vols; do
        if podman volume exists "$v"; then podman volume rm -f "$v" >/dev/null || return 1; fi
    done
    [ -z "$(project_containers)" ] && [ -z "$(project_volumes)" ] && ! podman network exists "${PROJECT}_default"
}
LOCAL_WORKERS=""
teardown() {
    local rc=$?
    STAGE=teardown
    if [ -n "$LOCAL_WORKERS" ]; then kill -TERM "$LOCAL_WORKERS" 2>/dev/null || true; fi
    if [ "$rc" != 0 ]; then
        for c in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'); do
            echo "---- last log lines of $c" >&2
            podman logs --tail 15 "$c" 2>&1 | sed 's/^/    /' >&2 || true
        done
    fi
    if ! down; then
        echo "test-farm-containers: FAIL at teardown: left behind: $(project_containers) $(project_volumes)"
        rc=1
    fi
    if [ "${FARM_CI_RMI:-0}" = 1 ]; then
        podman rmi -f "$APP_IMAGE" localhost/synthreid-test-postgres:15 localhost/synthreid-test-redis:7 "$BASE_IMAGE" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    if [ "$rc" = 0 ]; then echo "$SUMMARY"; fi
    exit "$rc"
}
trap teardown EXIT
# A previous run killed half-way may have left its project behind.
down || true

# ---- images ----------------------------------------------------------------------------------
STAGE=build
secs() { echo $(($(date +%s) - $1)); }
s=$(date +%s)
if podman image exists "$BASE_IMAGE"; then
    log "base image $BASE_IMAGE present"
else
    log "debootstrap the base image"
    bash scripts/make-base-image.sh "$BASE_IMAGE" >/dev/null || fail "scripts/make-base-image.sh"
fi
t_base=$(secs "$s")
# Wheels of the image's dependencies, fetched once on the host (pip's cache) into the build context,
# so the image installs offline (PIP_NO_INDEX=1 in the override). async-timeout: redis needs it on
# Python < 3.11.3 (the base's 3.11.2), which pip on a newer host would not fetch.
s=$(date +%s)
EXTRAS=$(sed -n 's/^ *EXTRAS: *//p' tests/containers/compose.override.yml | head -1)
mapfile -t reqs < <("$PY" scripts/pyproject-requirements.py pyproject.toml "$EXTRAS")
"$PY" -m pip download -q -d .wheelhouse "${reqs[@]}" "setuptools>=68" wheel "async-timeout>=4.0.3" 2>&1 \
    | grep -v "^WARNING: Location" >&2 || true
t_wheels=$(secs "$s")
image_id() { podman image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
drop_replaced() { # drop_replaced TAG OLD_ID: remove the image TAG pointed at before a rebuild
    if [ -n "$2" ] && [ "$2" != "$(image_id "$1")" ]; then podman rmi "$2" >/dev/null 2>&1 || true; fi
}
s=$(date +%s)
for svc in postgres redis; do
    tag=$(sed -n "/^  $svc:/,/image:/s/^ *image: *//p" tests/containers/compose.override.yml)
    old=$(image_id "$tag")
    podman build -q --build-arg BASE="$BASE_IMAGE" -t "$tag" -f "tests/containers/$svc.Containerfile" \
        tests/containers >/dev/null || fail "podman build $svc"
    drop_replaced "$tag" "$old"
done
t_services=$(secs "$s")
s=$(date +%s)
old=$(image_id "$APP_IMAGE")
compose build worker >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; fail "podman-compose build worker"; }
drop_replaced "$APP_IMAGE" "$old" # a fresh clone rebuilds it: keep one copy, not one per run
t_app=$(secs "$s")
size() { podman image inspect --format '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1 / 1e6}'; }
log "built in ${t_base}+${t_wheels}+${t_services}+${t_app} s (base, wheels, postgres+redis, app); app image $(size "$APP_IMAGE")"
T_BUILT=$(date +%s)

# ---- services --------------------------------------------------------------------------------
STAGE=start
container() { # the running containers of a service, one name per line
    podman ps --filter "label=io.podman.compose.project=$PROJECT" \
        --filter "label=io.podman.compose.service=$1" --format '{{.Names}}' | sort
}
wait_until() { # wait_until SECONDS WHAT COMMAND...: poll every second until COMMAND succeeds
    local limit=$1 what=$2 end=$(($(date +%s) + $1))
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || fail "no $what within $limit s"
        sleep 1
    done
}
# podman-compose ignores `condition: service_healthy`, so readiness is awaited here.
compose up -d postgres redis >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; fail "podman-compose up postgres redis"; }
PG=$(container postgres)
RD=$(container redis)
[ -n "$PG" ] && [ -n "$RD" ] || fail "postgres or redis container missing"
wait_until 120 "pg_isready" podman exec "$PG" pg_isready -U "$POSTGRES_USER" -d "$POSTGRES_DB"
redis_ping() { podman exec "$RD" redis-cli -a "$REDIS_PASSWORD" --no-auth-warning ping | grep -q PONG; }
wait_until 60 "redis PONG" redis_ping
sql() { podman exec "$PG" psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "$1"; }

STAGE=migrate
compose up -d --no-deps migrate >>"$WORK/up.log" 2>&1 || fail "podman-compose up migrate"
MG=$(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --filter "label=io.podman.compose.service=migrate" --format '{{.Names}}' | head -1)
[ "$(podman wait "$MG")" = 0 ] || { podman logs "$MG" >&2; fail "the migrate service failed"; }
schema=$(sql "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('datasets','images','tasks','workers')")
[ "$schema" = 4 ] || fail "the migration left $schema of the 4 core tables"

STAGE=workers
T_UP=$(date +%s)
compose up -d --no-deps --scale worker=2 worker >>"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; fail "podman-compose up --scale worker=2"; }
mapfile -t WORKERS < <(container worker)
[ ${#WORKERS[@]} = 2 ] || fail "expected 2 worker containers, got ${#WORKERS[@]}"
live_workers() { [ "$(sql "SELECT count(*) FROM workers WHERE stopped_at IS NULL AND heartbeat_at > extract(epoch FROM now()) - $SYNTHREID_LEASE_SECONDS")" -ge "$1" ]; }
wait_until 180 "heartbeats of 2 workers in the catalog" live_workers 2

STAGE=enqueue
compose --profile cli run --rm cli enqueue --preset I --characters "$CHARACTERS" --images "$IMAGES" \
    --name "$DATASET" -q >"$WORK/enqueue.log" 2>&1 || { cat "$WORK/enqueue.log" >&2; fail "enqueue through the cli service"; }
T_ENQ=$(date +%s)
done_images() { sql "SELECT count(*) FROM images i JOIN datasets d ON d.id = i.dataset_id WHERE d.name = '$DATASET' AND i.state = 'done'"; }
at_least_done() { [ "$(done_images)" -ge "$1" ]; }
wait_until 600 "first image done" at_least_done 1
T_FIRST=$(date +%s)

# ---- faults ------------------------------------------------------------------------------------
STAGE=kill
# A worker that has just claimed a character (started under 2 s ago, so most of its images are
# still to render): kill its container; afterwards that task must be finished by another worker.
just_started() {
    sql "SELECT t.id || ' ' || t.worker || ' ' || w.host FROM tasks t JOIN workers w ON w.name = t.worker
         JOIN datasets d ON d.id = t.dataset_id WHERE d.name = '$DATASET' AND t.state = 'running'
         AND t.started_at > extract(epoch FROM now()) - 2 ORDER BY t.started_at DESC LIMIT 1"
}
end=$(($(date +%s) + 300))
until victim=$(just_started) && [ -n "$victim" ]; do
    [ "$(date +%s)" -lt "$end" ] || fail "no task started within 300 s"
    sleep 0.2
done
read -r victim_task victim_worker victim_host <<<"$victim"
VICTIM=""
for c in "${WORKERS[@]}"; do
    if [ "$(podman inspect --format '{{.Config.Hostname}}' "$c")" = "$victim_host" ]; then VICTIM=$c; fi
done
[ -n "$VICTIM" ] || fail "no worker container has hostname $victim_host"
done_at_kill=$(done_images)
podman kill "$VICTIM" >/dev/null || fail "podman kill $VICTIM"
log "killed $VICTIM in task $victim_task ($done_at_kill/$TOTAL images done)"
STAGE=redis-restart
podman restart -t 5 "$RD" >/dev/null || fail "podman restart $RD"
wait_until 60 "redis PONG after its restart" redis_ping
log "redis restarted"

# ---- completion and checks ---------------------------------------------------------------------
STAGE=complete
finalized() { [ "$(sql "SELECT count(*) FROM datasets WHERE name = '$DATASET' AND finalized_at IS NOT NULL")" = 1 ]; }
wait_until "$WAIT_LIMIT" "finalized dataset ($TOTAL images)" finalized
T_DONE=$(date +%s)
STAGE=check
SURVIVOR=""
for c in "${WORKERS[@]}"; do if [ "$c" != "$VICTIM" ]; then SURVIVOR=$c; fi; done
check=$(podman exec -i "$SURVIVOR" python - "$DATASET" "$TOTAL" <tests/containers/check_farm.py) || fail "$check"
log "$check"
tasks=$(sql "SELECT count(*) FILTER (WHERE state = 'done') || '/' || count(*) FROM tasks t JOIN datasets d ON d.id = t.dataset_id WHERE d.name = '$DATASET'")
[ "$tasks" = "$CHARACTERS/$CHARACTERS" ] || fail "tasks done: $tasks"
read -r attempts finisher <<<"$(sql "SELECT attempts || ' ' || worker FROM tasks WHERE id = $victim_task")"
[ "$finisher" != "$victim_worker" ] && [ "$attempts" -ge 2 ] \
    || fail "task $victim_task was finished by $finisher in $attempts attempts: the kill was not mid-task"
log "task $victim_task: re-run by $finisher (attempt $attempts) after the kill"
status=$(compose --profile cli run --rm cli status "$DATASET" 2>&1) || fail "status through the cli service: $status"
grep -Eq "$DATASET +$TOTAL/$TOTAL" <<<"$status" || fail "status does not show $TOTAL/$TOTAL: $status"
log "status through the cli service: $(grep -E "$DATASET +$TOTAL/$TOTAL" <<<"$status" | head -1)"

STAGE=healthchecks
# Healthchecks do not run under podman 4.3 without systemd: run each one's command by hand.
healthy=0
for c in "$PG" "$RD" $(container worker); do
    test_json=$(podman inspect --format '{{json .Config.Healthcheck.Test}}' "$c")
    mapfile -t argv < <("$PY" -c 'import json, sys; t = json.loads(sys.argv[1]); print(t[0]); print(*t[1:], sep="\n")' "$test_json")
    case "${argv[0]}" in
    CMD-SHELL) podman exec "$c" sh -c "${argv[1]}" >/dev/null 2>&1 || fail "healthcheck of $c failed: ${argv[1]}" ;;
    CMD) podman exec "$c" "${argv[@]:1}" >/dev/null 2>&1 || fail "healthcheck of $c failed: ${argv[*]:1}" ;;
    *) fail "$c has no healthcheck ($test_json)" ;;
    esac
    healthy=$((healthy + 1))
done
[ "$healthy" -ge 3 ] || fail "only $healthy healthchecks ran"

THROUGHPUT=""
if [ "${FARM_CI_COMPARE:-0}" -gt 0 ]; then
    # Same preset and size rendered by the 2 worker containers, then by 2 local worker processes
    # (this repository's venv, embedded SQLite catalog), each pair warmed up first on 2 characters
    # (bpy loaded, room built): images / (last task end - first task start).
    STAGE=throughput
    n=$FARM_CI_COMPARE
    podman start "$VICTIM" >/dev/null
    wait_until 180 "2 live workers again" live_workers 2
    ds_finalized() { [ "$(sql "SELECT count(*) FROM datasets WHERE name = '$1' AND finalized_at IS NOT NULL")" = 1 ]; }
    for name in ci-warmup ci-throughput; do
        chars=$n
        if [ "$name" = ci-warmup ]; then chars=2; fi
        compose --profile cli run --rm cli enqueue --preset I --characters "$chars" --images "$IMAGES" \
            --name "$name" -q >/dev/null 2>&1 || fail "enqueue $name"
        wait_until "$WAIT_LIMIT" "finalized $name" ds_finalized "$name"
    done
    span_c=$(sql "SELECT round((max(finished_at) - min(started_at))::numeric, 1) FROM tasks t
                  JOIN datasets d ON d.id = t.dataset_id WHERE d.name = 'ci-throughput'")
    for c in $(container worker); do podman stop -t 30 "$c" >/dev/null; done
    local_env=(env -u SYNTHREID_DATABASE_URL -u SYNTHREID_REDIS_URL "SYNTHREID_DATA_DIR=$WORK/local" "PYTHONPATH=$PWD")
    local_sql() { "$PY" -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' \
        "$WORK/local/catalog.sqlite3" "$1"; }
    local_finalized() { [ "$(local_sql "SELECT count(*) FROM datasets WHERE name = '$1' AND finalized_at IS NOT NULL")" = 1 ]; }
    for name in ci-warmup ci-throughput; do
        chars=$n
        if [ "$name" = ci-warmup ]; then chars=2; fi
        "${local_env[@]}" "$PY" -m synthreid.cli enqueue --preset I --characters "$chars" --images "$IMAGES" \
            --name "$name" -q >/dev/null 2>&1 || fail "local enqueue $name"
        if [ -z "$LOCAL_WORKERS" ]; then # started once the catalog exists
            "${local_env[@]}" "$PY" -m synthreid.cli worker --processes 2 >"$WORK/local.log" 2>&1 &
            LOCAL_WORKERS=$!
        fi
        wait_until "$WAIT_LIMIT" "local $name finalized" local_finalized "$name"
    done
    span_l=$(local_sql "SELECT round(max(finished_at) - min(started_at), 1) FROM tasks t
                        JOIN datasets d ON d.id = t.dataset_id WHERE d.name = 'ci-throughput'")
    kill -TERM "$LOCAL_WORKERS" && wait "$LOCAL_WORKERS" || true
    LOCAL_WORKERS=""
    THROUGHPUT=$("$PY" -c 'import sys; n, c, l = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"; throughput {n} images: 2 containers {n / c:.2f}/s ({c:.0f} s), 2 local processes {n / l:.2f}/s ({l:.0f} s), overhead {100 * (c / l - 1):+.1f} %")' \
        "$((n * IMAGES))" "$span_c" "$span_l")
    log "${THROUGHPUT#; }"
fi

STAGE=teardown
down || fail "podman-compose down -v left containers, volumes or the network: $(project_containers) $(project_volumes)"
SUMMARY="test-farm-containers: PASS $check; 2 worker containers, $VICTIM killed at $done_at_kill/$TOTAL, Redis restarted; status $TOTAL/$TOTAL; $healthy healthchecks ok; first image $((T_FIRST - T_ENQ)) s after enqueue ($((T_FIRST - T0)) s after start, $((T_FIRST - T_UP)) s after the workers started); rendered in $((T_DONE - T_ENQ)) s; builds $((T_BUILT - T0)) s; app image $(size "$APP_IMAGE"); total $(($(date +%s) - T0)) s$THROUGHPUT"
