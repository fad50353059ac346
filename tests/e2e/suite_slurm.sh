# shellcheck shell=bash
#
# End-to-end cases for running keysift on the schedulers docs/scaling.md
# documents: its Slurm batch scripts on a real single-node Slurm cluster
# that the test starts in a temporary directory (munged, slurmctld and
# slurmd, every state, spool, log and pid path inside it) and stops
# afterwards; its Kubernetes manifests, parsed as YAML, with their keysift
# command lines run for every completion index; its GNU parallel line;
# and the Dockerfile's run-time packages against the built binary. Sourced
# by run.sh, whose helpers it uses.

SCALING_DOC=$here/../../docs/scaling.md
DOCKERFILE=$here/../../Dockerfile

# Prints the fenced block that follows "<!-- file: NAME -->" in the doc.
doc_block() {
    awk -v name="$1" '
        $0 == "<!-- file: " name " -->" { want = 1; next }
        want && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }' "$SCALING_DOC"
}

# A store to scan, and the findings of one unsharded scan of it.
slurm_store() {
    if [ ! -d "$tmp/scale/store" ]; then
        bash "$here/../images/make_store.sh" "$tmp/scale" 12 1 >/dev/null ||
            return 1
    fi
    "$KEYSIFT" scan -q -f json "$tmp/scale/store" >"$tmp/slurm-one.json"
    [ $? -eq 1 ]
}

# keysift on PATH, as the documented jobs call it.
slurm_path() {
    mkdir -p "$tmp/bin"
    ln -sf "$KEYSIFT" "$tmp/bin/keysift"
    printf '%s' "$tmp/bin:$PATH"
}

suite_slurm() {
    begin "scaling: a store for the scheduler cases"
    slurm_store || want "could not make or scan the store"
    end_case
    [ -z "$why" ] || return
    slurm_cluster_job
    slurm_kubernetes
    slurm_parallel
    slurm_dockerfile
}

# ---------------------------------------------------------------------------
# A single-node Slurm cluster
# ---------------------------------------------------------------------------

SLURM_DIR=

slurm_start() {
    local d=$1 host port
    host=$(hostname -s)
    # Ports of our own, away from the defaults a real cluster may use.
    port=$((20000 + ($$ % 5000) * 2))
    mkdir -p "$d/state" "$d/spool" "$d/log"
    head -c 1024 /dev/urandom >"$d/munge.key"
    chmod 400 "$d/munge.key"
    munged --force --key-file="$d/munge.key" --socket="$d/munge.sock" \
        --pid-file="$d/munged.pid" --log-file="$d/log/munged.log" \
        --seed-file="$d/munge.seed" || return 1
    cat >"$d/slurm.conf" <<EOF
ClusterName=keysift-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$d/munge.sock
CredType=cred/munge
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF=$d/slurm.conf
    slurmctld -f "$SLURM_CONF" && slurmd -f "$SLURM_CONF" || return 1
    for _ in $(seq 60); do
        sinfo -h -o '%T' 2>/dev/null | grep -q idle && return 0
        sleep 0.5
    done
    return 1
}

slurm_stop() {
    local d=$1 f pid

    scancel --quiet --user="$(id -un)" 2>/dev/null
    for f in slurmd slurmctld munged; do
        pid=$(cat "$d/$f.pid" 2>/dev/null) || continue
        kill "$pid" 2>/dev/null
        for _ in $(seq 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null
    done
    unset SLURM_CONF
}

slurm_cluster_job() {
    local d=$tmp/slurm work=$tmp/slurm-work jobid rc_merge path

    begin "slurm: the documented 4-task job array and merge job give one scan's findings"
    if [ "$(id -u)" -ne 0 ]; then
        skip_case "slurmd must run as root to start jobs"
        return
    fi
    for tool in munged slurmctld slurmd sbatch sinfo; do
        command -v "$tool" >/dev/null ||
            want "$tool is missing (make deps installs slurm-wlm and munge)"
    done
    [ -z "$why" ] || { end_case; return; }
    mkdir -p "$d" "$work"
    doc_block keysift-shards.sbatch >"$d/shards.sbatch"
    doc_block keysift-merge.sbatch >"$d/merge.sbatch"
    [ -s "$d/shards.sbatch" ] && [ -s "$d/merge.sbatch" ] ||
        want "docs/scaling.md lost its Slurm scripts"
    if ! slurm_start "$d"; then
        want "the cluster did not start: $(tail -n 2 "$d"/log/*.log 2>/dev/null |
            tr '\n' ' ' | cut -c 1-200)"
        slurm_stop "$d"
        end_case
        return
    fi
    path=$(slurm_path)
    jobid=$(cd "$d" && PATH=$path STORE=$tmp/scale/store WORK=$work \
        sbatch --parsable --array=0-3 --cpus-per-task=1 shards.sbatch)
    if [ -z "$jobid" ]; then
        want "sbatch refused the job array"
    else
        (cd "$d" && PATH=$path WORK=$work timeout "$(slow 300)" sbatch --wait \
            --dependency=afterok:"$jobid" merge.sbatch >/dev/null)
        rc_merge=$?
        [ "$rc_merge" -eq 0 ] || want "merge job exit $rc_merge:" \
            "$(tail -n 2 "$d"/keysift-*.log 2>/dev/null | tr '\n' ' ' |
                cut -c 1-200)"
        [ "$(ls "$work/parts" 2>/dev/null | wc -l)" = 4 ] ||
            want "the array did not write 4 shard outputs"
        [ "$(jq -S .findings "$work/report.json" 2>/dev/null)" = \
            "$(jq -S .findings "$tmp/slurm-one.json")" ] ||
            want "the merged report differs from one unsharded scan"
    fi
    slurm_stop "$d"
    pgrep -f "$d/slurm.conf" >/dev/null && want "Slurm daemons left running"
    end_case
}

# ---------------------------------------------------------------------------
# Kubernetes, GNU parallel, the image
# ---------------------------------------------------------------------------

# Prints "NAME<TAB>COMPLETIONS<TAB>COMMAND" for each Job of a manifest,
# the command being the shell line its container runs.
k8s_jobs() {
    python3 - "$1" <<'EOF'
import sys, yaml
for doc in yaml.safe_load_all(open(sys.argv[1])):
    assert doc["apiVersion"] == "batch/v1" and doc["kind"] == "Job", doc
    spec = doc["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    assert container["command"] == ["/bin/sh", "-c"], container["command"]
    (line,) = container["args"]
    if spec.get("completionMode") == "Indexed":
        assert spec["completions"] == spec["parallelism"], spec
        n = spec["completions"]
    else:
        n = 1
    print(doc["metadata"]["name"], n, line, sep="\t")
EOF
}

slurm_kubernetes() {
    local work=$tmp/k8s job n line line_k k path file

    begin "kubernetes: the documented Jobs parse and their commands merge to one scan's findings"
    if ! python3 -c 'import yaml' 2>/dev/null; then
        want "python3-yaml is missing (make deps installs it)"
        end_case
        return
    fi
    path=$(slurm_path)
    mkdir -p "$work"
    for file in keysift-shards-job.yaml keysift-merge-job.yaml; do
        doc_block "$file" >"$work/$file"
        k8s_jobs "$work/$file" >"$work/$file.jobs" 2>"$err" ||
            want "$file does not parse as the Jobs it should be:" \
                "$(tail -n 1 "$err")"
    done
    while IFS=$'\t' read -r job n line; do
        [[ $line == *"--shard \$(SHARD)/$n "* ]] ||
            want "$job: --shard does not use the $n completions"
        for ((k = 0; k < n; k++)); do
            line_k=${line//'$(SHARD)'/$k}
            line_k=${line_k//\/registry/$tmp/scale/store}
            line_k=${line_k//\/work/$work}
            PATH=$path sh -c "$line_k" >/dev/null 2>"$err" ||
                want "$job index $k failed: $(tail -n 1 "$err")"
        done
    done <"$work/keysift-shards-job.yaml.jobs"
    while IFS=$'\t' read -r job n line; do
        line=${line//\/work/$work}
        PATH=$path sh -c "$line" >/dev/null 2>"$err" ||
            want "$job failed: $(tail -n 1 "$err")"
    done <"$work/keysift-merge-job.yaml.jobs"
    [ "$(jq -S .findings "$work/report.json" 2>/dev/null)" = \
        "$(jq -S .findings "$tmp/slurm-one.json")" ] ||
        want "the merged report differs from one unsharded scan"
    end_case
}

# The parallel line, run as GNU parallel would: the command before ":::"
# once for each value after it, then what follows "&&".
slurm_parallel() {
    local work=$tmp/parallel line template values rest v path

    begin "one machine: the documented GNU parallel line merges to one scan's findings"
    line=$(doc_block parallel.sh)
    [[ $line == *"parallel -j "*" ::: "*" && "* ]] ||
        want "docs/scaling.md lost its parallel line"
    path=$(slurm_path)
    mkdir -p "$work"
    line=${line//\/srv\/registry/$tmp/scale/store}
    template=${line#*parallel -j * }
    template=${template%% ::: *}
    values=${line#* ::: }
    rest=${values#* && }
    values=${values%% && *}
    (cd "$work" && PATH=$path sh -c "${line%% && parallel*}") ||
        want "the line's set-up failed"
    for v in $values; do
        (cd "$work" && PATH=$path sh -c "${template//\{\}/$v}") \
            >/dev/null 2>"$err" || want "shard $v failed: $(tail -n 1 "$err")"
    done
    (cd "$work" && PATH=$path sh -c "$rest") >/dev/null 2>&1
    [ "$(jq -S .findings "$work/report.json" 2>/dev/null)" = \
        "$(jq -S .findings "$tmp/slurm-one.json")" ] ||
        want "the merged report differs from one unsharded scan"
    end_case
}

slurm_dockerfile() {
    local lib pkg path wanted missing=

    begin "Dockerfile: its run-time stage installs every library keysift links"
    wanted=$(awk '/^FROM debian:bookworm-slim/ { run = 1 } run' \
        "$DOCKERFILE" | tr -s ' \\\n' '\n')
    for lib in $(readelf -d "$KEYSIFT_BIN" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
        case $lib in
        lib*san.so.*) continue ;;   # a sanitizer build's own runtime
        esac
        path=$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')
        pkg=$(dpkg -S "$(realpath "$path" 2>/dev/null)" 2>/dev/null |
            cut -d: -f1)
        [ -n "$pkg" ] || pkg=$(dpkg -S "$path" 2>/dev/null | cut -d: -f1)
        case $pkg in
        libc6 | libgcc-s1 | libstdc++6) continue ;;  # in debian:*-slim
        esac
        grep -qx "$pkg" <<<"$wanted" || missing+=" $lib ($pkg)"
    done
    # libcurl is loaded when a registry is first used, not linked.
    grep -qx libcurl4 <<<"$wanted" || missing+=" libcurl.so.4 (libcurl4)"
    [ -z "$missing" ] || want "not installed by the run-time stage:$missing"
    grep -q '^USER 10001' "$DOCKERFILE" || want "the image does not drop root"
    end_case
}
