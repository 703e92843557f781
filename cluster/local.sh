#!/usr/bin/env bash
# A multi-node Ray cluster on one machine: a head and N worker nodes, each its own `ray start` process
# (its own raylet, own CPU count, own custom resource), all on 127.0.0.1 with token authentication.
# The nodes are started with --node-ip-address 127.0.0.1 (Ray 2.60 still advertises the machine's address)
# and the dashboard listens on 127.0.0.1 only; Ray's gRPC servers bind every interface, which the token guards.
#
#   cluster/local.sh start N [options]     start the head and N workers, record what was started
#   cluster/local.sh stop                  stop exactly the processes recorded by `start`
#   cluster/local.sh status                show the recorded nodes and whether they still run
#   cluster/local.sh --help
#
# Each node runs `ray start --block` in a session of its own (setsid), so that node's Ray processes share
# one process group; the state file records each group's leader (pid, start time). `stop` signals those
# leaders and groups, and the descendants that left them (Ray workers), by process id only (SIGTERM, then
# SIGKILL after a grace period): it never touches Ray processes it did not start.
set -Eeuo pipefail

usage() {
    cat <<'USAGE'
Usage: cluster/local.sh start N [options] | stop | status | --help

start N   a Ray head and N worker nodes on 127.0.0.1 (N >= 0), each a separate `ray start` process.
  --head-cpus C         CPUs the head offers (default 1)
  --worker-cpus C       CPUs each worker offers (default 1)
  --port P              GCS port of the head (default 6379)
  --dashboard-port P    dashboard / job submission port (default 8265)
  --object-store-mb M   object store per node in MiB (default 512)
  --head-memory-mb M    memory the head offers to tasks and actors, in MiB (Ray's `memory` resource;
                        default Ray's: what is free on the machine less the object store)
  --worker-memory-mb M  the same for each worker node. Nodes on one machine each count the whole
                        machine's free memory unless told: give each its share, so that trials asking
                        for memory (resources.memory_gib_per_worker) fit what the machine really has
  --agent-port P        the head's dashboard agent port, which runs submitted jobs (default 52365)
  --timeout S           seconds to wait for each node (default 120)
  --temp-dir DIR        the head's Ray temp dir (default Ray's, /tmp/ray); worker i uses DIR/worker_i.
                        A separate one keeps a plain ray.init() elsewhere on the machine from attaching
                        to this cluster. Keep it short: it holds Unix sockets (at most 107 bytes a path).
stop      stop the nodes recorded by `start` (only those process groups)
status    list the recorded nodes

Every node offers a custom resource naming it (local_head: 1, local_worker_1: 1, ...), so a task can be
pinned to a node: @ray.remote(resources={"local_worker_1": 0.01}).

Token authentication is on (RAY_AUTH_MODE=token on every node). The token is RAY_AUTH_TOKEN, else the
file RAY_AUTH_TOKEN_PATH names, else ~/.ray/auth_token (created if missing); clients need the same one.
Submit with:
  RAY_AUTH_MODE=token ray job submit --address http://127.0.0.1:8265 \
      --runtime-env cluster/runtime_env.yaml -- python tune.py searchspaces/barlow.yaml

Environment: SSLSWEEP_LOCAL_CLUSTER_DIR (state and logs; default ${SSLSWEEP_HOME:-~/.sslsweep}/local-cluster),
RAY (the ray command; default ray). Variables exported before `start` (MLFLOW_TRACKING_URI, SSLSWEEP_*)
reach every job's driver and workers.
USAGE
}

die() { echo "local.sh: $*" >&2; exit 2; }

STATE_DIR="${SSLSWEEP_LOCAL_CLUSTER_DIR:-${SSLSWEEP_HOME:-$HOME/.sslsweep}/local-cluster}"
STATE_FILE="$STATE_DIR/nodes"
RAY_BIN="${RAY:-ray}"

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

# memory_bytes OPTION MIB: MIB (decimal, 1 to 8 digits) in bytes, for `ray start --memory`.
memory_bytes() {
    [[ "$2" =~ ^[0-9]{1,8}$ ]] && (( 10#$2 >= 1 )) || die "$1 must be a whole number of MiB from 1 to 99999999, got '$2'"
    echo $(( 10#$2 * 1024 * 1024 ))
}

# Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat); empty if it is gone
# (or a zombie).
# Together with the pid it identifies one process: a reused pid has another start time.
start_time() {
    local stat
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 0
    stat="${stat##*) }"                      # drop "pid (comm) ", comm may hold spaces
    # shellcheck disable=SC2086
    set -- $stat                             # field 3 of /proc/PID/stat (the state) is now $1
    [[ "$1" != Z ]] || return 0              # a zombie has ended: treat it as gone
    echo "${20}"
}

# Is PID the leader we recorded (same start time)?
same_process() { [[ -n "$2" && "$(start_time "$1")" == "$2" ]]; }

# Pids of the live (non-zombie) processes in process group $1 (selected by id, never by name).
members_of() {
    ps -e -o pid=,pgid=,stat= | awk -v g="$1" '$2 == g && $3 !~ /^Z/ {print $1}'
}

# Pids of all descendants of process $1 (children, grandchildren, ...), from the ppid links. Ray's worker
# processes put themselves in process groups of their own; this finds them while their raylet still lives.
descendants_of() {
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { parent[$1] = $2; n++; pids[n] = $1 }
        END {
            found[root] = 1; changed = 1
            while (changed) {
                changed = 0
                for (i = 1; i <= n; i++) {
                    p = pids[i]
                    if (!(p in found) && (parent[p] in found)) { found[p] = 1; changed = 1 }
                }
            }
            for (p in found) if (p != root) print p
        }'
}

wait_for_log() {  # LOGFILE PID TIMEOUT: wait until `ray start` reports the node as started (waited: tenths of s)
    local log="$1" pid="$2" timeout="$3" waited=0
    while ! grep -q "Ray runtime started" "$log" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "local.sh: ray start (pid $pid) exited; last lines of $log:" >&2
            tail -n 30 "$log" >&2 || true
            return 1
        fi
        if (( waited >= timeout * 10 )); then
            echo "local.sh: node not up after ${timeout}s; see $log" >&2
            return 1
        fi
        sleep 0.2
        waited=$((waited + 2))
    done
}

wait_for_port() {  # PORT PID TIMEOUT LOGFILE: wait until 127.0.0.1:PORT accepts connections (waited: tenths)
    local port="$1" pid="$2" timeout="$3" log="$4" waited=0
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null || (( waited >= timeout * 10 )); then
            echo "local.sh: nothing listens on 127.0.0.1:$port after $((waited / 10))s; see $log" >&2
            return 1
        fi
        sleep 0.2
        waited=$((waited + 2))
    done
}

# Start one node: NAME LOGFILE ARGS...; appends "NAME PID STARTTIME LOGFILE" to the state file.
start_node() {
    local name="$1" log="$2"
    shift 2
    # Job control is off in this script, so the background job is not a group leader and setsid(1) execs
    # in place: $! is the `ray start` process itself and leads a new session and process group.
    setsid "$RAY_BIN" start --block "$@" >"$log" 2>&1 </dev/null &
    local pid=$!
    local st=""
    local tries=0
    while [[ -z "$st" && $tries -lt 50 ]]; do st="$(start_time "$pid")"; tries=$((tries + 1)); [[ -n "$st" ]] || sleep 0.1; done
    [[ -n "$st" ]] || { echo "local.sh: ray start for $name exited at once; see $log" >&2; return 1; }
    echo "$name $pid $st $log" >>"$STATE_FILE"
    if [[ "$(ps -o pgid= -p "$pid" | tr -d ' ')" != "$pid" ]]; then
        echo "local.sh: $name (pid $pid) is not the leader of its process group" >&2
        return 1
    fi
}

# Stop every recorded node, the workers first, then the head (stop_entries below says how); the state file
# goes once nothing recorded is left.
stop_nodes() {
    local grace="${1:-30}" name pid st log
    [[ -f "$STATE_FILE" ]] || { echo "local.sh: nothing recorded in $STATE_FILE; nothing to stop"; return 0; }
    local -a workers=() heads=()
    while read -r name pid st log; do
        [[ -n "${pid:-}" ]] || continue
        is_uint "$pid" || die "malformed state file $STATE_FILE: $name $pid"
        if [[ "$name" == head ]]; then heads+=("$name $pid $st"); else workers+=("$name $pid $st"); fi
    done <"$STATE_FILE"
    # Workers first, while the head's GCS still answers them; then the head.
    stop_entries "$grace" "${workers[@]+"${workers[@]}"}" || return 1
    stop_entries "$grace" "${heads[@]+"${heads[@]}"}" || return 1
    rm -f "$STATE_FILE"
    echo "stopped"
}

# stop_entries GRACE "NAME PID STARTTIME"...
#   1. SIGTERM to each recorded `ray start --block` process; it shuts down its node's Ray processes itself.
#   2. After it exited (or GRACE seconds): SIGTERM to whatever is left in its process group, SIGKILL 10 s later.
#   3. The same for the descendants that had left the group (Ray workers), each identified by pid and start time.
# Waits are counted in tenths of a second (polled every 0.2 s).
stop_entries() {
    local grace="$1" entry name pid st m d waited
    shift
    local -a leaders=() groups=() tracked=() alive=()
    for entry in "$@"; do
        read -r name pid st <<<"$entry"
        if same_process "$pid" "$st"; then
            for d in $(descendants_of "$pid"); do tracked+=("$d:$(start_time "$d")"); done
            echo "$name: stopping ray start (pid $pid) and its process group"
            kill -TERM "$pid" 2>/dev/null || true
            leaders+=("$pid:$st")
            groups+=("$pid")
        elif [[ -n "$(start_time "$pid")" ]]; then
            # The pid belongs to another process now. The kernel does not reuse a pid while a process group
            # of that id exists, so our group is gone: nothing of ours is left to stop.
            echo "$name: not running (pid $pid is another process now)"
        elif [[ -n "$(members_of "$pid")" ]]; then
            # The leader exited but processes remain in its group: the ones that `ray start` started.
            for m in $(members_of "$pid"); do
                tracked+=("$m:$(start_time "$m")")
                for d in $(descendants_of "$m"); do tracked+=("$d:$(start_time "$d")"); done
            done
            echo "$name: ray start (pid $pid) is gone; stopping what is left of its process group"
            groups+=("$pid")
        else
            echo "$name: not running"
        fi
    done

    waited=0
    while (( ${#leaders[@]} > 0 && waited < grace * 10 )); do
        alive=()
        for m in "${leaders[@]}"; do
            if same_process "${m%%:*}" "${m#*:}"; then alive+=("$m"); fi
        done
        (( ${#alive[@]} == 0 )) && break
        sleep 0.2
        waited=$((waited + 2))
    done

    for pid in "${groups[@]+"${groups[@]}"}"; do
        if [[ -n "$(members_of "$pid")" ]]; then kill -TERM -- "-$pid" 2>/dev/null || true; fi
    done
    waited=0
    while :; do
        alive=()
        for pid in "${groups[@]+"${groups[@]}"}"; do
            if [[ -n "$(members_of "$pid")" ]]; then alive+=("$pid"); fi
        done
        (( ${#alive[@]} == 0 )) && break
        if (( waited >= 100 )); then
            for pid in "${alive[@]}"; do
                echo "process group $pid still alive: SIGKILL"
                kill -KILL -- "-$pid" 2>/dev/null || true
            done
            sleep 1
            break
        fi
        sleep 0.2
        waited=$((waited + 2))
    done

    local -a strays=()
    for m in "${tracked[@]+"${tracked[@]}"}"; do
        if same_process "${m%%:*}" "${m#*:}"; then strays+=("$m"); kill -TERM "${m%%:*}" 2>/dev/null || true; fi
    done
    waited=0
    while (( ${#strays[@]} > 0 )); do
        alive=()
        for m in "${strays[@]}"; do
            if same_process "${m%%:*}" "${m#*:}"; then alive+=("$m"); fi
        done
        (( ${#alive[@]} == 0 )) && break
        if (( waited >= 100 )); then
            for m in "${alive[@]}"; do kill -KILL "${m%%:*}" 2>/dev/null || true; done
            sleep 1
            break
        fi
        sleep 0.2
        waited=$((waited + 2))
    done

    local left=0
    for pid in "${groups[@]+"${groups[@]}"}"; do
        if [[ -n "$(members_of "$pid")" ]]; then echo "local.sh: process group $pid did not exit" >&2; left=1; fi
    done
    for m in "${strays[@]+"${strays[@]}"}"; do
        if same_process "${m%%:*}" "${m#*:}"; then echo "local.sh: process ${m%%:*} did not exit" >&2; left=1; fi
    done
    (( left == 0 ))
}

status_nodes() {
    [[ -f "$STATE_FILE" ]] || { echo "no local cluster recorded in $STATE_FILE"; return 0; }
    local name pid st log n
    while read -r name pid st log; do
        n="$(members_of "$pid" | wc -l | tr -d ' ')"
        if same_process "$pid" "$st"; then
            echo "$name: running (ray start pid $pid, $n processes in its group), log $log"
        elif [[ -n "$(start_time "$pid")" ]]; then
            echo "$name: not running (pid $pid is another process now), log $log"
        else
            echo "$name: not running ($n processes left in group $pid), log $log"
        fi
    done <"$STATE_FILE"
}

cmd_start() {
    [[ $# -ge 1 ]] || die "start needs the number of worker nodes (cluster/local.sh start N)"
    local n="$1"
    shift
    is_uint "$n" || die "N must be a whole number >= 0, got '$n'"
    local head_cpus=1 worker_cpus=1 port=6379 dash_port=8265 store_mb=512 timeout=120 agent_port=52365
    local temp_root="" head_memory_mb="" worker_memory_mb=""
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --head-cpus) head_cpus="${2:-}"; shift 2 || die "--head-cpus needs a value" ;;
            --worker-cpus) worker_cpus="${2:-}"; shift 2 || die "--worker-cpus needs a value" ;;
            --port) port="${2:-}"; shift 2 || die "--port needs a value" ;;
            --dashboard-port) dash_port="${2:-}"; shift 2 || die "--dashboard-port needs a value" ;;
            --object-store-mb) store_mb="${2:-}"; shift 2 || die "--object-store-mb needs a value" ;;
            --timeout) timeout="${2:-}"; shift 2 || die "--timeout needs a value" ;;
            --agent-port) agent_port="${2:-}"; shift 2 || die "--agent-port needs a value" ;;
            --head-memory-mb) head_memory_mb="${2:-}"; shift 2 || die "--head-memory-mb needs a value" ;;
            --worker-memory-mb) worker_memory_mb="${2:-}"; shift 2 || die "--worker-memory-mb needs a value" ;;
            --temp-dir) [[ -n "${2:-}" ]] || die "--temp-dir needs a value"
                        temp_root="$2"; shift 2 ;;
            *) die "unknown option '$1' (see --help)" ;;
        esac
    done
    for v in "$head_cpus" "$worker_cpus" "$port" "$dash_port" "$store_mb" "$timeout" "$agent_port"; do
        is_uint "$v" || die "option values must be whole numbers, got '$v'"
    done
    (( store_mb >= 80 )) || die "--object-store-mb must be at least 80"
    local -a head_memory_args=() worker_memory_args=()
    if [[ -n "$head_memory_mb" ]]; then
        head_memory_args=(--memory "$(memory_bytes --head-memory-mb "$head_memory_mb")")
    fi
    if [[ -n "$worker_memory_mb" ]]; then
        worker_memory_args=(--memory "$(memory_bytes --worker-memory-mb "$worker_memory_mb")")
    fi
    command -v "$RAY_BIN" >/dev/null || die "'$RAY_BIN' not found (pip install -e . installs Ray)"
    command -v setsid >/dev/null || die "setsid (util-linux) not found"

    mkdir -p "$STATE_DIR"
    if [[ -s "$STATE_FILE" ]]; then
        local name pid st log
        while read -r name pid st log; do
            if same_process "$pid" "$st" || { [[ -z "$(start_time "$pid")" ]] && [[ -n "$(members_of "$pid")" ]]; }; then
                die "a local cluster is already recorded in $STATE_FILE ($name, pid $pid): run 'cluster/local.sh stop' first"
            fi
        done <"$STATE_FILE"
        rm -f "$STATE_FILE"
    fi
    : >"$STATE_FILE"

    # Token authentication on every node (Ray 2.60 reads RAY_AUTH_MODE on each `ray start`; workers and
    # submitters need the same token: RAY_AUTH_TOKEN, else the file RAY_AUTH_TOKEN_PATH names, else
    # ~/.ray/auth_token, which is created if missing).
    export RAY_AUTH_MODE=token
    # On SIGTERM a `ray start --block` node first drains for up to 30 s (for Serve); nothing here needs it.
    export RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="${RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S:-0}"
    local token_source="~/.ray/auth_token"
    if [[ -n "${RAY_AUTH_TOKEN:-}" ]]; then
        token_source="\$RAY_AUTH_TOKEN"
    elif [[ -n "${RAY_AUTH_TOKEN_PATH:-}" ]]; then
        # `ray get-auth-token --generate` only writes ~/.ray/auth_token: a file named here must hold a token.
        [[ -s "$RAY_AUTH_TOKEN_PATH" ]] || die "RAY_AUTH_TOKEN_PATH names '$RAY_AUTH_TOKEN_PATH', which holds no token; write one there first"
        token_source="$RAY_AUTH_TOKEN_PATH (RAY_AUTH_TOKEN_PATH)"
    elif [[ ! -s "$HOME/.ray/auth_token" ]]; then
        "$RAY_BIN" get-auth-token --generate >/dev/null
    fi

    # Every node gets a Ray temp dir of its own: nodes that share one share its session directory, and with
    # it runtime_resources/, where each node's runtime-env agent unpacks a job's working_dir. A worker node
    # that sets up the job's working_dir (its first task of the job) would delete the copy the driver on the
    # head runs in (Ray re-creates a working_dir with overwrite=True), and the job fails on a missing cwd.
    # Without --temp-dir the head keeps Ray's default, computed as Ray does (_common/utils.py).
    local worker_temp_root="${temp_root:-${RAY_TMPDIR:-${TMPDIR:-/tmp}}/ray}"
    local -a temp_args=()
    [[ -z "$temp_root" ]] || temp_args=(--temp-dir "$temp_root")

    # On failure after this point, stop whatever was started.
    trap 'echo "local.sh: start failed; stopping what was started" >&2; stop_nodes 10 || true' ERR

    local store_bytes=$((store_mb * 1024 * 1024))
    local head_log="$STATE_DIR/head.log"
    start_node head "$head_log" --head \
        --node-ip-address 127.0.0.1 --port "$port" \
        --dashboard-host 127.0.0.1 --dashboard-port "$dash_port" --dashboard-agent-listen-port "$agent_port" \
        --num-cpus "$head_cpus" --num-gpus 0 --resources '{"local_head": 1}' \
        --object-store-memory "$store_bytes" "${head_memory_args[@]+"${head_memory_args[@]}"}" \
        "${temp_args[@]+"${temp_args[@]}"}"
    local head_pid
    head_pid="$(awk '$1 == "head" {print $2}' "$STATE_FILE")"
    wait_for_log "$head_log" "$head_pid" "$timeout"
    # Job submission needs the dashboard and the head's dashboard agent (it runs the job's driver).
    wait_for_port "$dash_port" "$head_pid" "$timeout" "$head_log"
    wait_for_port "$agent_port" "$head_pid" "$timeout" "$head_log"

    local i wlog wpid
    for (( i = 1; i <= n; i++ )); do
        wlog="$STATE_DIR/worker_$i.log"
        # Several raylets on one address: let each pick free ports for its node manager, workers and
        # dashboard agent. Each node's log monitor forwards the worker output of its own session directory
        # to the drivers (they are separate, see above, so nothing is forwarded twice).
        start_node "worker_$i" "$wlog" \
            --address "127.0.0.1:$port" --node-ip-address 127.0.0.1 \
            --num-cpus "$worker_cpus" --num-gpus 0 --resources "{\"local_worker_$i\": 1}" \
            --object-store-memory "$store_bytes" "${worker_memory_args[@]+"${worker_memory_args[@]}"}" \
            --node-manager-port 0 --min-worker-port 0 --max-worker-port 0 \
            --dashboard-agent-listen-port 0 --temp-dir "$worker_temp_root/worker_$i"
        wpid="$(awk -v w="worker_$i" '$1 == w {print $2}' "$STATE_FILE")"
        wait_for_log "$wlog" "$wpid" "$timeout"
    done
    trap - ERR

    cat <<EOF
Ray cluster up: head + $n worker node(s) on 127.0.0.1 (head ${head_cpus} CPU${head_memory_mb:+, ${head_memory_mb} MiB}, workers ${worker_cpus} CPU${worker_memory_mb:+, ${worker_memory_mb} MiB} each).
  Dashboard / job API: http://127.0.0.1:$dash_port
  GCS address:         127.0.0.1:$port
  Token auth is on: the token is $token_source (print it with 'ray get-auth-token'; the
  dashboard asks for it in the browser). Every client needs RAY_AUTH_MODE=token and that token:
    RAY_AUTH_MODE=token ray job submit --address http://127.0.0.1:$dash_port \\
        --runtime-env cluster/runtime_env.yaml -- python tune.py searchspaces/barlow.yaml
    RAY_AUTH_MODE=token ray status --address 127.0.0.1:$port
  Nodes and logs: $STATE_FILE
  Stop exactly these processes: cluster/local.sh stop
EOF
}

main() {
    [[ $# -ge 1 ]] || { usage >&2; exit 2; }
    case "$1" in
        -h|--help|help) usage ;;
        start) shift; cmd_start "$@" ;;
        stop) shift; [[ $# -eq 0 ]] || die "stop takes no arguments"; stop_nodes 30 ;;
        status) status_nodes ;;
        *) usage >&2; exit 2 ;;
    esac
}

main "$@"
