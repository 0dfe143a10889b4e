# shellcheck shell=bash
# PostgreSQL nodes with Citus loaded, on loopback, for scripts/test-citus and scripts/bench-citus (sourced by them).
# Each node is a private cluster in "$work/nodes" on a free port, run as the postgres user when the script runs as
# root (initdb refuses root); `stop_nodes` stops them all. Needs: $work, and `fail`.

: "${work:?the script sets work before sourcing citus-nodes.sh}"
pg_bin=/usr/lib/postgresql/15/bin
declare -A port
nodes=()
as_pg=()
mkdir -p "$work/nodes"
if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$work/nodes"
    as_pg=(runuser -u postgres --)
fi

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Builds Citus from the source release beside the checkout (../shared/vendor, one folder further up, or the
# workplace's /work/shared/vendor; or $CITUS_VENDOR) when this PostgreSQL does not have it.
ensure_citus() {
    [ -f /usr/lib/postgresql/15/lib/citus.so ] && return 0
    local vendor
    for vendor in "${CITUS_VENDOR:-}" "$(cd .. && pwd)/shared/vendor" "$(cd ../.. && pwd)/shared/vendor" /work/shared/vendor; do
        if [ -n "$vendor" ] && [ -x "$vendor/build-citus.sh" ]; then
            echo "building Citus from $vendor"
            "$vendor/build-citus.sh"
            return 0
        fi
    done
    fail "Citus is not installed and no build-citus.sh was found in ../shared/vendor: set CITUS_VENDOR to the folder that holds it"
}

# start_node NAME [citus|plain] [durable|fast]: a cluster of its own, started; plain: without Citus (the one-PostgreSQL
# baseline); fast: fsync off (tests that make and drop many databases; never for figures).
start_node() {
    local name=$1 kind=${2:-citus} speed=${3:-durable}
    port[$name]=$(free_port)
    "${as_pg[@]}" "$pg_bin/initdb" -D "$work/nodes/$name" -A trust -U postgres >"$work/nodes/$name-initdb.log"
    # max_worker_processes: Citus runs a maintenance worker per database, and the test suites make many.
    # citus.recover_2pc_interval -1: the coordinator keeps the records of two-phase commits, which a test reads.
    # wal_level logical: a shard move copies by logical replication.
    cat >>"$work/nodes/$name/postgresql.conf" <<EOF
port = ${port[$name]}
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work/nodes'
max_connections = 400
max_worker_processes = 600
wal_level = logical
EOF
    if [ "$speed" = fast ]; then echo "fsync = off" >>"$work/nodes/$name/postgresql.conf"; fi
    if [ "$kind" = citus ]; then
        printf "shared_preload_libraries = 'citus'\ncitus.recover_2pc_interval = -1\n" >>"$work/nodes/$name/postgresql.conf"
    fi
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/nodes/$name" -l "$work/nodes/$name.log" -w start >/dev/null
    nodes+=("$name")
}

stop_nodes() {
    for node in "${nodes[@]}"; do "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/nodes/$node" -m immediate stop >/dev/null 2>&1 || true; done
}

# sql NODE DATABASE psql-arguments…
sql() {
    local node=$1 database=$2
    shift 2
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${port[$node]}" -U postgres -d "$database" "$@"
}

# citus_database DATABASE COORDINATOR WORKER…: the database made on every node, the extension in each, the workers
# added to the coordinator's metadata.
citus_database() {
    local database=$1 coordinator=$2
    shift 2
    for node in "$coordinator" "$@"; do
        sql "$node" postgres -c "CREATE DATABASE $database"
        sql "$node" "$database" -c "CREATE EXTENSION citus"
    done
    sql "$coordinator" "$database" -c "SELECT citus_set_coordinator_host('127.0.0.1', ${port[$coordinator]})" >/dev/null
    for node in "$@"; do sql "$coordinator" "$database" -c "SELECT citus_add_node('127.0.0.1', ${port[$node]})" >/dev/null; done
}
