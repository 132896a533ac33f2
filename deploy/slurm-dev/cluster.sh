#!/usr/bin/env bash
# The aisc development cluster: a real Slurm 22.05 cluster (Debian 12 packages) on one machine.
#
#   munge + slurmdbd (MariaDB accounting) + slurmctld + NNODES slurmd daemons (one per node,
#   each with GPUS GPUs of type GPU_TYPE, backed by character devices) + slurmrestd with JWT.
#   Everything listens on and talks to loopback only.
#
# Usage (as root):
#   cluster.sh up       install the packages if missing, write the configuration, start all,
#                       create the development users; a cold machine -> a working cluster
#   cluster.sh start    start whatever is not running (warm restart)
#   cluster.sh stop     stop everything this script started (by pid file)
#   cluster.sh restart DAEMON
#                       stop one daemon (slurmctld, slurmdbd, slurmrestd) and start it again
#   cluster.sh kill DAEMON
#                       stop one daemon and leave it stopped (fault tests)
#   cluster.sh reset    stop, wipe the controller's state and drop the accounting database
#   cluster.sh status   which daemons run, and sinfo
#   cluster.sh env      the AISC_* settings that point aisc at this cluster
#
# Tunables (environment): NNODES=4 GPUS=8 GPU_TYPE=h800 PARTITION=training CLUSTER=aiscdev
#   NODE_BASE_PORT=17000 REST_ADDR=127.0.0.1:6820 DEV_USERS="alice bob carol"
#   JOB_ROOT=/var/tmp/aisc-slurm (job working directories; writable by every user)
#
# MariaDB: when a server already answers on this machine (unix socket), slurmdbd uses it;
# otherwise mariadb-server is installed and started here with no TCP listener.
set -euo pipefail

NNODES=${NNODES:-4}
GPUS=${GPUS:-8}
GPU_TYPE=${GPU_TYPE:-h800}
PARTITION=${PARTITION:-training}
CLUSTER=${CLUSTER:-aiscdev}
NODE_BASE_PORT=${NODE_BASE_PORT:-17000}
REST_ADDR=${REST_ADDR:-127.0.0.1:6820}
DEV_USERS=${DEV_USERS:-alice bob carol}
JOB_ROOT=${JOB_ROOT:-/var/tmp/aisc-slurm}
DB_PASS=${DB_PASS:-aisc-slurmdb}
DB_NAME=aisc_slurm_acct_db

ETC=/etc/slurm
RUN=/run/slurm
LOG=/var/log/slurm
STATE=/var/lib/slurm/slurmctld
SPOOL=/var/lib/slurm/slurmd
FAKEGPU=/var/lib/slurm/fakegpu
JWT_KEY=$ETC/jwt_hs256.key
REST_USER=slurmrest
OWN_MARIADB=/run/slurm/own-mariadb   # present when this script started MariaDB itself

log() { printf '[slurm-dev %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

wait_for() {  # wait_for SECONDS WHAT CMD...: poll until CMD succeeds
    local limit=$1 what=$2 end
    shift 2
    end=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= end)); then
            log "timed out waiting for $what"
            return 1
        fi
        sleep 0.2
    done
}
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
pid_alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pidfile() {  # stop_pidfile FILE NAME: SIGTERM, wait up to 20 s, then SIGKILL
    local file=$1 name=$2 pid
    pid_alive "$file" || { rm -f "$file"; return 0; }
    pid=$(cat "$file")
    log "stopping $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$file"; return 0; }
        sleep 0.2
    done
    log "$name did not stop; SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$file"
}

# --------------------------------------------------------------------------------- install
do_install() {
    local packages=(munge slurmctld slurmd slurm-client slurmdbd slurmrestd
        slurm-wlm-basic-plugins slurm-wlm-mysql-plugin slurm-wlm-jwt-plugin)
    local missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ! mariadb_answers && ! command -v mariadbd >/dev/null 2>&1; then
        missing+=(mariadb-server)
    fi
    if ((${#missing[@]} == 0)); then
        log "packages present: $(slurmctld -V)"
        return 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    # No init system: package scripts must not try to start daemons.
    local added_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        added_policy=1
    fi
    log "installing ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    ((added_policy)) && rm -f /usr/sbin/policy-rc.d
    log "installed $(slurmctld -V)"
}

# --------------------------------------------------------------------------------- config
write_slurm_conf() {
    cat >$ETC/slurm.conf <<EOF
# Written by deploy/slurm-dev/cluster.sh (aisc development cluster).
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmctldPort=6817
SlurmdPort=6818
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$JWT_KEY
CryptoType=crypto/munge
MailProg=/bin/true
StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL/%n
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd-%n.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
# The nodes are fictional: no cgroup confinement, no CPU binding, advertised sizes trusted.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerType=sched/backfill
# The default batch_sched_delay of 3 s would make back-to-back submissions wait.
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStorageEnforce=associations,limits,qos,safe
AccountingStorageTRES=gres/gpu,gres/gpu:$GPU_TYPE
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
JobCompType=jobcomp/none
# Usage never decays nor resets: a QOS GrpTRESMins is a hard, consumable GPU-minute budget.
PriorityType=priority/multifactor
PriorityDecayHalfLife=0
PriorityUsageResetPeriod=NONE
PriorityCalcPeriod=1
PriorityWeightFairshare=10000
PriorityWeightAssoc=5000
PriorityWeightAge=2000
PriorityWeightQOS=20000
PriorityWeightTRES=GRES/gpu=1000
InactiveLimit=0
KillWait=5
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=60
Waittime=0
EOF
    local n
    for n in $(seq 1 "$NNODES"); do
        echo "NodeName=node$n NodeHostname=node$n NodeAddr=127.0.0.1 Port=$((NODE_BASE_PORT + n)) Sockets=2 CoresPerSocket=56 ThreadsPerCore=1 RealMemory=1024000 Gres=gpu:$GPU_TYPE:$GPUS State=UNKNOWN" >>$ETC/slurm.conf
    done
    echo "PartitionName=$PARTITION Nodes=node[1-$NNODES] Default=YES MaxTime=3-00:00:00 State=UP TRESBillingWeights=\"CPU=0.1,Mem=0.0G,GRES/gpu=1.0\"" >>$ETC/slurm.conf
}

do_config() {
    mkdir -p $ETC $RUN $LOG $STATE $SPOOL $FAKEGPU /run/munge
    chown slurm:slurm $RUN $LOG $STATE
    chown munge:munge /run/munge
    local n i
    for n in $(seq 1 "$NNODES"); do mkdir -p "$SPOOL/node$n"; done
    if [[ ! -s /etc/munge/munge.key ]]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    [[ -s $JWT_KEY ]] || dd if=/dev/urandom of=$JWT_KEY bs=32 count=1 status=none
    chown slurm:slurm $JWT_KEY
    chmod 0600 $JWT_KEY
    # gres/gpu needs File= entries that are character devices, or jobs get an empty
    # CUDA_VISIBLE_DEVICES. Major 195 is nvidia's; no driver stands behind these.
    for i in $(seq 0 $((GPUS - 1))); do
        [[ -c $FAKEGPU/nvidia$i ]] || {
            rm -f "$FAKEGPU/nvidia$i"
            mknod -m 0666 "$FAKEGPU/nvidia$i" c 195 "$i"
        }
    done
    write_slurm_conf
    cat >$ETC/gres.conf <<EOF
AutoDetect=off
NodeName=node[1-$NNODES] Name=gpu Type=$GPU_TYPE File=$FAKEGPU/nvidia[0-$((GPUS - 1))]
EOF
    cat >$ETC/cgroup.conf <<'EOF'
CgroupPlugin=autodetect
IgnoreSystemd=yes
EOF
    cat >$ETC/slurmdbd.conf <<EOF
AuthType=auth/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$JWT_KEY
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
DebugLevel=info
LogFile=$LOG/slurmdbd.log
PidFile=$RUN/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=$DB_NAME
EOF
    chown slurm:slurm $ETC/slurmdbd.conf
    chmod 0600 $ETC/slurmdbd.conf
    id $REST_USER >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin $REST_USER
    local u
    for u in $DEV_USERS; do id "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"; done
    mkdir -p "$JOB_ROOT"
    chmod 1777 "$JOB_ROOT"
    log "configuration written ($NNODES nodes x gpu:$GPU_TYPE:$GPUS, partition $PARTITION)"
}

# --------------------------------------------------------------------------------- start
mariadb_answers() { mariadb-admin ping >/dev/null 2>&1; }

start_munge() {
    mkdir -p /run/munge
    chown munge:munge /run/munge
    pid_alive /run/munge/munged.pid || runuser -u munge -- /usr/sbin/munged
    wait_for 20 munge bash -c 'munge -n | unmunge'
}
start_mariadb() {
    if ! mariadb_answers; then
        mkdir -p /run/mysqld /var/log/mysql
        chown mysql:mysql /run/mysqld /var/log/mysql
        setsid /usr/sbin/mariadbd --user=mysql --skip-networking \
            --innodb-buffer-pool-size=1G --innodb-lock-wait-timeout=900 \
            --log-error=/var/log/mysql/error.log </dev/null >/dev/null 2>&1 &
        mkdir -p $RUN
        touch $OWN_MARIADB
    fi
    wait_for 60 mariadb mariadb_answers
    mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
                GRANT ALL ON $DB_NAME.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
}
start_slurmdbd() {
    pid_alive $RUN/slurmdbd.pid || /usr/sbin/slurmdbd
    wait_for 60 slurmdbd tcp_open 127.0.0.1 6819
}
start_slurmctld() {
    pid_alive $RUN/slurmctld.pid || /usr/sbin/slurmctld
    wait_for 60 slurmctld bash -c 'scontrol ping | grep -q UP'
}
nodes_ready() { [[ $(sinfo -h -N -t idle,mixed,alloc,resv -o %N | sort -u | wc -l) -eq $NNODES ]]; }
start_slurmd() {
    local n
    for n in $(seq 1 "$NNODES"); do
        mkdir -p "$SPOOL/node$n"
        pid_alive "$RUN/slurmd-node$n.pid" || /usr/sbin/slurmd -N "node$n"
    done
    wait_for 60 "$NNODES nodes" nodes_ready
}
start_slurmrestd() {
    if ! pid_alive $RUN/slurmrestd.pid; then
        # slurmrestd will not run as root: it drops to -u/-g after binding. It neither
        # daemonises nor writes a pid file; exec keeps $! equal to its pid.
        (cd / && SLURM_JWT=daemon exec setsid /usr/sbin/slurmrestd -a rest_auth/jwt \
            -u $REST_USER -g $REST_USER -s openapi/v0.0.38,openapi/dbv0.0.38 "$REST_ADDR" \
            </dev/null >>$LOG/slurmrestd.log 2>&1) &
        echo $! >$RUN/slurmrestd.pid
    fi
    wait_for 30 slurmrestd tcp_open "${REST_ADDR%:*}" "${REST_ADDR##*:}"
}
do_start() {
    local t0=$SECONDS
    mkdir -p $RUN
    chown slurm:slurm $RUN
    start_munge
    start_mariadb
    start_slurmdbd
    start_slurmctld
    start_slurmd
    start_slurmrestd
    log "cluster running ($((SECONDS - t0)) s)"
}

# --------------------------------------------------------------------------------- stop
stop_daemon() {
    case "$1" in
        slurmrestd | slurmctld | slurmdbd) stop_pidfile "$RUN/$1.pid" "$1" ;;
        *) log "unknown daemon $1 (slurmctld, slurmdbd or slurmrestd)"; return 2 ;;
    esac
}
do_stop() {
    stop_pidfile $RUN/slurmrestd.pid slurmrestd
    local f
    for f in "$RUN"/slurmd-*.pid; do
        [[ -e $f ]] && pid_alive "$f" && kill "$(cat "$f")" 2>/dev/null || true
    done
    for f in "$RUN"/slurmd-*.pid; do [[ -e $f ]] && stop_pidfile "$f" "$(basename "$f" .pid)"; done
    stop_pidfile $RUN/slurmctld.pid slurmctld
    stop_pidfile $RUN/slurmdbd.pid slurmdbd
    if [[ -e $OWN_MARIADB ]]; then
        stop_pidfile /run/mysqld/mysqld.pid mariadb
        rm -f $OWN_MARIADB
    fi
    stop_pidfile /run/munge/munged.pid munged
}
do_status() {
    local f rc=0
    for f in /run/munge/munged.pid "$RUN"/*.pid; do
        [[ -e $f ]] || continue
        if pid_alive "$f"; then echo "up    $(basename "$f" .pid) (pid $(cat "$f"))"; else
            echo "down  $(basename "$f" .pid)"
            rc=1
        fi
    done
    sinfo 2>/dev/null || rc=1
    return $rc
}
do_reset() {
    do_stop
    rm -rf "${STATE:?}"/* "${SPOOL:?}"/* "$LOG"/*.log
    start_mariadb
    mariadb -e "DROP DATABASE IF EXISTS $DB_NAME"
    if [[ -e $OWN_MARIADB ]]; then
        stop_pidfile /run/mysqld/mysqld.pid mariadb
        rm -f $OWN_MARIADB
    fi
    log "state wiped"
}
do_env() {
    cat <<EOF
export AISC_EXECUTOR=slurm
export AISC_SLURM_CLUSTER=$CLUSTER
export AISC_SLURM_REST_URL=http://$REST_ADDR
export AISC_SLURM_JWT_KEY_FILE=$JWT_KEY
export AISC_SLURM_JOB_ROOT=$JOB_ROOT
EOF
}

case "${1:-}" in
    up)
        t0=$SECONDS
        do_install
        do_config
        do_start
        log "cold -> working cluster in $((SECONDS - t0)) s"
        sinfo
        ;;
    install) do_install ;;
    config) do_config ;;
    start) do_start ;;
    stop) do_stop ;;
    restart)
        stop_daemon "${2:?restart which daemon?}"
        do_start
        ;;
    kill) stop_daemon "${2:?stop which daemon?}" ;;
    reset) do_reset ;;
    status) do_status ;;
    env) do_env ;;
    *)
        sed -n '2,26p' "$0"
        exit 2
        ;;
esac
