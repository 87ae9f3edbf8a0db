#!/usr/bin/env bash
# A standalone Flink session cluster without Docker: a JobManager and a TaskManager
# as two JVMs started from a Flink distribution, and (optionally) the Python SDK
# worker pool beside the TaskManager, as the compose file runs them. The engine
# tests start their cluster with this script.
#
#   FLINK_HOME=.engines/flink-1.19.3 templates/flink/standalone-cluster.sh start DIR
#   templates/flink/standalone-cluster.sh stop DIR
#   templates/flink/standalone-cluster.sh start-taskmanager DIR    (again, after it died)
#   templates/flink/standalone-cluster.sh start-worker-pool DIR    (again, after it died)
#
# DIR holds the configuration, logs and pid files. Settings (environment):
#   FLINK_REST_PORT (8081)   the JobManager's REST port (what --flink_master names)
#   FLINK_RPC_PORT  (6123)   the JobManager's RPC port
#   FLINK_SLOTS     (2)      task slots of the TaskManager (the parallelism it takes)
#   WORKER_POOL_PORT         if set, also start `python -m apache_beam.runners.worker.
#                            worker_pool_main` on that port (--environment_config)
#   PYTHON (python3)         the interpreter of the worker pool, with beam-batchput
#   FLINK_EXTRA_CONFIG       more `key: value` lines for config.yaml
# A distribution with lib/ is enough (PyPI's apache-flink-libraries ships one); the
# JVMs are started with java directly, with the module flags Java 17 needs.
set -euo pipefail

usage="usage: standalone-cluster.sh start|stop|start-taskmanager|start-worker-pool DIR"
command=${1:?$usage}
dir=${2:?$usage}
mkdir -p "$dir/conf" "$dir/log"
dir=$(cd "$dir" && pwd)

stop_one() {  # stop_one NAME: SIGTERM the process group, then SIGKILL after 10 s
    local pidfile="$dir/$1.pid" pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

if [ "$command" = stop ]; then
    stop_one worker-pool; stop_one taskmanager; stop_one jobmanager
    exit 0
fi
case "$command" in
    start|start-taskmanager|start-worker-pool) ;;
    *) echo "unknown command $command; $usage" >&2; exit 2 ;;
esac
if [ "$command" != start ] && [ ! -f "$dir/conf/config.yaml" ]; then
    echo "$dir has no cluster configuration: run start first" >&2; exit 2
fi

: "${FLINK_HOME:?set FLINK_HOME to a Flink distribution (lib/flink-dist-*.jar)}"
ls "$FLINK_HOME"/lib/flink-dist-*.jar >/dev/null
rest_port=${FLINK_REST_PORT:-8081}
rpc_port=${FLINK_RPC_PORT:-6123}

[ "$command" = start ] && cat > "$dir/conf/config.yaml" <<YAML
jobmanager.rpc.address: 127.0.0.1
jobmanager.rpc.port: $rpc_port
jobmanager.bind-host: 127.0.0.1
rest.address: 127.0.0.1
rest.bind-address: 127.0.0.1
rest.port: $rest_port
taskmanager.host: 127.0.0.1
taskmanager.bind-host: 127.0.0.1
taskmanager.numberOfTaskSlots: ${FLINK_SLOTS:-2}
jobmanager.memory.process.size: 1024m
taskmanager.memory.process.size: 1536m
parallelism.default: 1
io.tmp.dirs: $dir/tmp
${FLINK_EXTRA_CONFIG:-}
YAML
[ "$command" = start ] && cat > "$dir/conf/log4j.properties" <<'PROPS'
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = MainAppender
appender.main.name = MainAppender
appender.main.type = File
appender.main.fileName = ${sys:log.file}
appender.main.layout.type = PatternLayout
appender.main.layout.pattern = %d{HH:mm:ss,SSS} %-5p %c{1} - %m%n
PROPS
mkdir -p "$dir/tmp"

java_opts=(
  --add-exports=java.base/sun.net.util=ALL-UNNAMED
  --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
  --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED
  --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens=java.base/java.text=ALL-UNNAMED --add-opens=java.base/java.time=ALL-UNNAMED
  --add-opens=java.base/java.util=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED
)

start_one() {  # start_one NAME COMMAND...: in a session of its own, pid in DIR/NAME.pid
    local name=$1; shift
    setsid "$@" >> "$dir/log/$name.out" 2>&1 < /dev/null &
    echo $! > "$dir/$name.pid"
}
start_worker_pool() {
    start_one worker-pool "${PYTHON:-python3}" -m apache_beam.runners.worker.worker_pool_main \
        --service_port="${WORKER_POOL_PORT:?set WORKER_POOL_PORT}"
}
if [ "$command" = start-worker-pool ]; then
    start_worker_pool
    exit 0
fi

# Flink's own memory model sizes each JVM (what bin/jobmanager.sh and bin/taskmanager.sh
# do): BashJavaUtils prints the JVM flags and the dynamic properties for this config.
resource_params() {  # resource_params GET_JM_RESOURCE_PARAMS|GET_TM_RESOURCE_PARAMS
    java -classpath "$FLINK_HOME/lib/*:$FLINK_HOME/bin/bash-java-utils.jar" \
        org.apache.flink.runtime.util.bash.BashJavaUtils "$1" --configDir "$dir/conf" \
        | sed -n 's/^BASH_JAVA_UTILS_EXEC_RESULT://p'
}
mapfile -t tm < <(resource_params GET_TM_RESOURCE_PARAMS)
[ "${#tm[@]}" -ge 2 ] || { echo "BashJavaUtils gave no resource parameters" >&2; exit 1; }

run_java() {  # run_java NAME JVM_FLAGS MAIN_CLASS DYNAMIC_PROPERTIES
    local name=$1 jvm=$2 main=$3 props=$4
    # shellcheck disable=SC2086  # the flags are word lists
    start_one "$name" java $jvm "${java_opts[@]}" -Dlog.file="$dir/log/$name.log" \
        -Dlog4j.configurationFile="file:$dir/conf/log4j.properties" \
        -classpath "$FLINK_HOME/lib/*" "$main" --configDir "$dir/conf" $props
}
run_taskmanager() {
    run_java taskmanager "${tm[0]}" org.apache.flink.runtime.taskexecutor.TaskManagerRunner \
        "${tm[1]}"
}
if [ "$command" = start-taskmanager ]; then
    run_taskmanager
    exit 0
fi
mapfile -t jm < <(resource_params GET_JM_RESOURCE_PARAMS)
[ "${#jm[@]}" -ge 2 ] || { echo "BashJavaUtils gave no resource parameters" >&2; exit 1; }
run_java jobmanager "${jm[0]}" \
    org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint "${jm[1]}"
run_taskmanager
[ -z "${WORKER_POOL_PORT:-}" ] || start_worker_pool
echo "Flink REST on http://127.0.0.1:$rest_port; logs in $dir/log; stop: $0 stop $dir"
