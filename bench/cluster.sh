#!/usr/bin/env bash
# Figures for the closing note of the cluster issue (figure 2): three local Shoal nodes side by
# side with a three-node NATS JetStream cluster, in one run on this machine, with 100-byte records.
#
#   1. Shoal, three nodes on 127.0.0.1 (--fsync always, --gossip-profile local), one topic of
#      PARTITIONS partitions with replication 3 per run: shoal bench produce --acks quorum.
#      A record is acknowledged once two of its three replicas have it fsynced.
#   2. NATS JetStream, three nats-server processes with cluster routes, stream benchstream with
#      replicas 3 on file storage: nats bench js pub async, NATS_CLIENTS clients,
#      a. with jetstream { sync_interval: always } (matched durability: every message fsynced),
#      b. with JetStream's default sync (fsync every 2 minutes; acknowledged from memory).
#   3. The disk's group-commit ceiling (bench/tools/rawsync: write + fdatasync of 100 KiB at a
#      time of RECORDS x 100 bytes), just before and just after Shoal's runs; three replicas share
#      this one disk, so the ceiling of a replicated log is about a third of it. Also three
#      rawsync processes at once, the same bytes each (the disk shared by three writers, measured).
#   4. For reference, one standalone Shoal node (no gossip, no replication, --fsync always) with
#      the same bench settings: what the replication costs on this machine. SINGLE=0 skips it.
#
# Every figure is the median of REPEAT runs (each Shoal run writes a new topic). Ratios are
# Shoal's cluster records/s over the other's. Beside the rates the script reports, per run, the
# epoch changes of the topic's partitions (a promotion, and the hand-back to the preferred leader,
# each add one: on two saturated cores a follower can miss its leader for an election timeout),
# the gossip suspicions in the nodes' logs (info level, in the work dir), and the CPU seconds the
# servers and the client spent per million records (from /proc and bash's time): with two cores
# for everything, CPU per record bounds the rate.
#
# Usage: bench/cluster.sh                                (RECORDS=1000000 REPEAT=3; about 2 minutes)
#        RECORDS=200000 REPEAT=1 bench/cluster.sh        (a quick look, under a minute)
# Knobs (environment): RECORDS (per Shoal run and per JetStream default run), NATS_ALWAYS_RECORDS
# (JetStream R3 with sync_interval always: about 20-30 k msgs/s here, so it gets fewer), REPEAT,
# PARTITIONS (6), NATS_CLIENTS (8), SHOAL_BENCH_ARGS (extra flags of `shoal bench produce`, e.g.
# "--producers 16 --linger 10ms"), SINGLE=0 (no standalone reference), SHOAL_BIN (a shoal binary
# to measure instead of building ./cmd/shoal from the work tree), KEEP=1 (keep the work dir with
# the data and the node logs).
#
# It installs what it lacks, as bench/compare.sh does: jq and curl from Debian's packages,
# nats-server and the nats CLI with `go install` into bin/ (git-ignored). Servers listen on
# 127.0.0.1 only (Shoal 17470-17672 and 17770-17771, NATS 14422-14624: clear of make run, make
# cluster and compare.sh), with their data in a temp dir, and are stopped on exit. Not part of
# make test.
set -euo pipefail
shopt -s inherit_errexit # a failing step inside $(...) stops the script too
cd "$(dirname "$0")/.."
command -v go >/dev/null || export PATH=/usr/local/go/bin:$PATH

RECORDS=${RECORDS:-1000000}
NATS_ALWAYS_RECORDS=${NATS_ALWAYS_RECORDS:-100000}
REPEAT=${REPEAT:-3}
PARTITIONS=${PARTITIONS:-6}
NATS_CLIENTS=${NATS_CLIENTS:-8}
SHOAL_BENCH_ARGS=${SHOAL_BENCH_ARGS:-}
SINGLE=${SINGLE:-1}
SHOAL_BIN=${SHOAL_BIN:-}
SHOAL_VERSION="binary ${SHOAL_BIN:-?}"
RECORD_BYTES=100
REPLICATION=3
NATS_SERVER_VERSION=v2.15.2
NATS_CLI_VERSION=v0.5.1
NODES=(n1 n2 n3)
READY_TIMEOUT_S=30
BIN=$PWD/bin

# Addresses: Shoal n1 17470 (broker), 17471 (http), 17472 (gossip); n2 1757x; n3 1767x; the
# standalone reference 17770/17771. NATS n1 14422 (clients), 14423 (routes), 14424 (monitoring);
# n2 1452x; n3 1462x.
node_num() { echo "${1#n}"; }
broker_addr() { echo "127.0.0.1:17$(($(node_num "$1") + 3))70"; }
http_addr() { echo "127.0.0.1:17$(($(node_num "$1") + 3))71"; }
gossip_addr() { echo "127.0.0.1:17$(($(node_num "$1") + 3))72"; }
nats_port() { echo "14$(($(node_num "$1") + 3))22"; }
nats_route_port() { echo "14$(($(node_num "$1") + 3))23"; }
nats_http_port() { echo "14$(($(node_num "$1") + 3))24"; }
SINGLE_ADDR=127.0.0.1:17770
SINGLE_HTTP=127.0.0.1:17771
BROKERS=$(broker_addr n1),$(broker_addr n2),$(broker_addr n3)
SEEDS=$(gossip_addr n1),$(gossip_addr n2),$(gossip_addr n3)
NATS_URLS=nats://127.0.0.1:$(nats_port n1),nats://127.0.0.1:$(nats_port n2),nats://127.0.0.1:$(nats_port n3)

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'cluster.sh: %s\n' "$*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

# ---- install -------------------------------------------------------------------------------
install_tools() {
	local missing=()
	command -v jq >/dev/null || missing+=(jq)
	command -v curl >/dev/null || missing+=(curl)
	if ((${#missing[@]})); then
		apt_install "${missing[@]}"
	fi
	mkdir -p "$BIN"
	if [ ! -x "$BIN/nats-server" ] || ! "$BIN/nats-server" --version | grep -q "$NATS_SERVER_VERSION"; then
		log "go install nats-server@$NATS_SERVER_VERSION into bin/"
		GOBIN=$BIN go install "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION"
	fi
	if [ ! -x "$BIN/nats" ] || ! "$BIN/nats" --version 2>&1 | grep -q "$NATS_CLI_VERSION"; then
		log "go install nats CLI@$NATS_CLI_VERSION into bin/"
		GOBIN=$BIN go install "github.com/nats-io/natscli/nats@$NATS_CLI_VERSION"
	fi
	if [ -n "$SHOAL_BIN" ]; then
		log "using $SHOAL_BIN (SHOAL_BIN); building rawsync (bench/tools)"
	else
		log "building shoal and rawsync (bench/tools)"
		go build -o "$BIN/shoal" ./cmd/shoal
		SHOAL_BIN=$BIN/shoal
		SHOAL_VERSION=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
		[ -z "$(git status --porcelain --untracked-files=no -- '*.go' go.mod go.sum 2>/dev/null)" ] ||
			SHOAL_VERSION+=" + uncommitted Go changes in the work tree"
	fi
	(cd bench/tools && go build -o "$BIN/rawsync" ./rawsync)
}

# ---- processes -----------------------------------------------------------------------------
# WORK, PIDS and their cleanup on exit: bench/lib.sh

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_until WHAT TIMEOUT_S PIDS CMD...: polls CMD (every 0.1 s) until it succeeds; dies when
# one of the space-separated PIDS exits or the deadline passes.
wait_until() {
	local what=$1 timeout_s=$2 pids=$3 pid deadline
	shift 3
	deadline=$((SECONDS + timeout_s))
	until "$@" >/dev/null 2>&1; do
		for pid in $pids; do
			kill -0 "$pid" 2>/dev/null || die "a server exited while waiting for $what; logs are in $WORK"
		done
		((SECONDS <= deadline)) || die "$what: not within ${timeout_s}s; logs are in $WORK"
		sleep 0.1 # polling a condition with a deadline
	done
}

http_ok() { # url: answers 200
	[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1")" = 200 ]
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- Shoal cluster -------------------------------------------------------------------------
SHOAL_PIDS=()
start_shoal_cluster() {
	local node args
	for node in "${NODES[@]}"; do
		mkdir -p "$WORK/shoal/$node"
		args=(serve --node-id "$node" --data-dir "$WORK/shoal/$node" --broker-addr "$(broker_addr "$node")"
			--http-addr "$(http_addr "$node")" --gossip-addr "$(gossip_addr "$node")"
			--gossip-profile local --fsync always --log-level info)
		# n1 makes the cluster; n2 and n3 join the three (a node skips its own address).
		[ "$node" = n1 ] || args+=(--join "$SEEDS")
		"$SHOAL_BIN" "${args[@]}" >"$WORK/shoal/$node.log" 2>&1 &
		SHOAL_PIDS+=($!)
		PIDS+=($!)
	done
	for node in "${NODES[@]}"; do
		wait_until "$node's /readyz" $READY_TIMEOUT_S "${SHOAL_PIDS[*]}" http_ok "http://$(http_addr "$node")/readyz"
	done
	wait_until "three alive members and a healthy __meta" $READY_TIMEOUT_S "${SHOAL_PIDS[*]}" cluster_healthy 1
}

cluster_status() { "$SHOAL_BIN" cluster status --brokers "$BROKERS" --json --timeout 2s; }

# cluster_healthy MIN_PARTITIONS: three members alive, at least that many partitions (with
# __meta), none leaderless or under-replicated.
cluster_healthy() {
	cluster_status | jq -e --argjson min "$1" '
		([.members[] | select(.state == "alive")] | length) == 3
		and .partitions.total >= $min and .partitions.leaderless == 0 and .partitions.under_replicated == 0'
}

describe() { # topic [broker]
	"$SHOAL_BIN" topic describe "$1" --json --brokers "${2:-$BROKERS}"
}

# topic_healthy TOPIC: every partition has a leader, and the leader's own node (only the leader
# knows in_sync; other nodes answer []) reports all three replicas in sync.
topic_healthy() {
	local node
	describe "$1" | jq -e --argjson n "$PARTITIONS" '(.partitions | length) == $n and all(.partitions[]; .leader != "")' || return 1
	for node in "${NODES[@]}"; do
		describe "$1" "$(broker_addr "$node")" | jq -e --arg me "$node" --argjson rf $REPLICATION \
			'all(.partitions[] | select(.leader == $me); (.in_sync | length) == $rf)' || return 1
	done
}

epochs() { describe "$1" | jq '[.partitions[].epoch] | add'; }
leaders() { describe "$1" | jq -r '[.partitions[].leader] | group_by(.) | map("\(.[0]) \(length)") | join(", ")'; }

# shoal_cluster_run: run $RUN writes topic rf3-$RUN, created first with replication 3.
shoal_cluster_run() {
	local topic=rf3-$RUN before after out created=$((1 + PARTITIONS * RUN)) # __meta and one topic per run
	"$SHOAL_BIN" topic create "$topic" --partitions "$PARTITIONS" --replication $REPLICATION --brokers "$BROKERS" >/dev/null
	wait_until "topic $topic with leaders and all replicas in sync" $READY_TIMEOUT_S "${SHOAL_PIDS[*]}" topic_healthy "$topic"
	wait_until "cluster with $created partitions healthy" $READY_TIMEOUT_S "${SHOAL_PIDS[*]}" cluster_healthy $created
	before=$(epochs "$topic")
	printf '      leaders before: %s\n' "$(leaders "$topic")" >&2
	local cpu0 cpu1
	cpu0=$(cpu_seconds "${SHOAL_PIDS[@]}")
	# shellcheck disable=SC2086
	out=$(bench_produce --brokers "$BROKERS" --topic "$topic" --records "$RECORDS" \
		--record-bytes $RECORD_BYTES --acks quorum --progress=false $SHOAL_BENCH_ARGS)
	cpu1=$(cpu_seconds "${SHOAL_PIDS[@]}")
	after=$(epochs "$topic")
	out=$(jq -c --argjson changes $((after - before)) --argjson cpu "$(jq -n "$cpu1 - $cpu0")" \
		'. + {leader_changes: $changes, server_cpu_s: $cpu}' <<<"$out")
	printf '      leaders after:  %s (%d epoch changes during the run), %.0f records/s, %s; load average %s\n' \
		"$(leaders "$topic")" $((after - before)) "$(jq -n --argjson o "$out" '$o.records_per_sec')" \
		"$(cpu_note "$out")" "$(loadavg)" >&2
	echo "$out"
}

# suspicions: memberlist lines about suspected or unreachable peers in the nodes' logs.
suspicions() {
	cat "$WORK"/shoal/n?.log | grep -c -E 'Suspect|suspect|Failed fallback|probes failed' || true
}

# ---- Shoal standalone reference -----------------------------------------------------------
SINGLE_PID=
start_shoal_single() {
	mkdir -p "$WORK/single"
	"$SHOAL_BIN" serve --data-dir "$WORK/single/data" --broker-addr $SINGLE_ADDR --http-addr $SINGLE_HTTP \
		--fsync always --log-level warn >"$WORK/single/shoal.log" 2>&1 &
	SINGLE_PID=$!
	PIDS+=("$SINGLE_PID")
	wait_until "the standalone node's /readyz" $READY_TIMEOUT_S "$SINGLE_PID" http_ok "http://$SINGLE_HTTP/readyz"
}

shoal_single_run() {
	local cpu0 cpu1 out
	cpu0=$(cpu_seconds "$SINGLE_PID")
	# shellcheck disable=SC2086
	out=$(bench_produce --brokers $SINGLE_ADDR --topic "single-$RUN" --partitions "$PARTITIONS" \
		--records "$RECORDS" --record-bytes $RECORD_BYTES --acks quorum --progress=false $SHOAL_BENCH_ARGS)
	cpu1=$(cpu_seconds "$SINGLE_PID")
	out=$(jq -c --argjson cpu "$(jq -n "$cpu1 - $cpu0")" '. + {server_cpu_s: $cpu}' <<<"$out")
	printf '      %.0f records/s, %s; load average %s\n' "$(jq -n --argjson o "$out" '$o.records_per_sec')" \
		"$(cpu_note "$out")" "$(loadavg)" >&2
	echo "$out"
}

# ---- NATS JetStream cluster ----------------------------------------------------------------
NATS_PIDS=()
start_nats_cluster() { # always|default
	local node dir
	NATS_PIDS=()
	for node in "${NODES[@]}"; do
		dir=$WORK/nats-$1/$node
		mkdir -p "$dir"
		{
			echo "server_name: $node"
			echo "listen: 127.0.0.1:$(nats_port "$node")"
			echo "http: 127.0.0.1:$(nats_http_port "$node")"
			echo "cluster {"
			echo "  name: shoalbench"
			echo "  listen: 127.0.0.1:$(nats_route_port "$node")"
			echo "  routes: [nats-route://127.0.0.1:$(nats_route_port n1), nats-route://127.0.0.1:$(nats_route_port n2), nats-route://127.0.0.1:$(nats_route_port n3)]"
			echo "}"
			echo "jetstream {"
			echo "  store_dir: \"$dir/js\""
			[ "$1" = always ] && echo "  sync_interval: always"
			echo "}"
		} >"$dir/nats.conf"
		"$BIN/nats-server" -c "$dir/nats.conf" >"$dir/nats.log" 2>&1 &
		NATS_PIDS+=($!)
		PIDS+=($!)
	done
	for node in "${NODES[@]}"; do
		wait_until "nats-server $node's /healthz" $READY_TIMEOUT_S "${NATS_PIDS[*]}" \
			http_ok "http://127.0.0.1:$(nats_http_port "$node")/healthz"
	done
	wait_until "a JetStream meta leader" $READY_TIMEOUT_S "${NATS_PIDS[*]}" nats_meta_leader
	"$BIN/nats" -s "$NATS_URLS" stream add benchstream --subjects 'bench.>' --storage file \
		--replicas $REPLICATION --max-bytes 1GB --defaults >/dev/null
	wait_until "stream benchstream (R3) with a leader and two current replicas" $READY_TIMEOUT_S \
		"${NATS_PIDS[*]}" nats_stream_ready
	log "   JetStream R3 stream ready: $("$BIN/nats" -s "$NATS_URLS" stream info benchstream -j |
		jq -r '"leader \(.cluster.leader), replicas \([.cluster.replicas[].name] | join(" ")), storage \(.config.storage), \(.config.num_replicas) replicas"')"
}

nats_meta_leader() {
	curl -s --max-time 2 "http://127.0.0.1:$(nats_http_port n1)/jsz" | jq -e '.meta_cluster.leader // "" | length > 0'
}

nats_stream_ready() {
	"$BIN/nats" -s "$NATS_URLS" stream info benchstream -j |
		jq -e '.cluster.leader != null and (.cluster.replicas | length) == 2 and all(.cluster.replicas[]; .current)'
}

nats_pub() { # records
	local out cpu0 cpu1 client TIMEFORMAT='%U %S' rc=0
	cpu0=$(cpu_seconds "${NATS_PIDS[@]}")
	{ time "$BIN/nats" -s "$NATS_URLS" bench js pub async bench.sub --stream benchstream --purge \
		--msgs "$1" --size ${RECORD_BYTES}B --clients "$NATS_CLIENTS" --no-progress >"$WORK/nats.out" 2>&1; } 2>"$WORK/nats.time" || rc=$?
	cpu1=$(cpu_seconds "${NATS_PIDS[@]}")
	out=$(cat "$WORK/nats.out")
	[ $rc = 0 ] || { echo "$out" >&2; die "nats bench failed (exit $rc)"; }
	client=$(awk '{ print $1 + $2 }' "$WORK/nats.time")
	# "aggregated stats: 124,390 msgs/sec" and "latencies per operation ... P50 1,228.34us ... P99 2,961.22us"
	# (one client prints "publisher stats: ... P50: ...us ... P99: ...us" instead).
	awk -v n="$1" -v size=$RECORD_BYTES '
		/stats: / { for (i = 1; i <= NF; i++) if ($(i) == "msgs/sec") { r = $(i - 1); gsub(",", "", r); rps = r } }
		/P50/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^P50:?$/) { v = $(i + 1); gsub("[,us]", "", v); p50 = v / 1000 }
		                                   if ($(i) ~ /^P99:?$/) { v = $(i + 1); gsub("[,us]", "", v); p99 = v / 1000 } } }
		END { if (rps == "") exit 1
		      printf "{\"records\":%d,\"records_per_sec\":%s,\"mb_per_sec\":%f,\"p50_ms\":%s,\"p99_ms\":%s}\n", n, rps, rps * size / 1e6, p50 + 0, p99 + 0 }
	' <<<"$out" >"$WORK/nats.json" || { echo "$out" >&2; die "could not read nats bench's output"; }
	out=$(jq -c --argjson s "$(jq -n "$cpu1 - $cpu0")" --argjson c "$client" '. + {server_cpu_s: $s, client_cpu_s: $c}' "$WORK/nats.json")
	printf '      %.0f msgs/s, %s; load average %s\n' "$(jq -n --argjson o "$out" '$o.records_per_sec')" \
		"$(cpu_note "$out")" "$(loadavg)" >&2
	echo "$out"
}

# ---- disk ----------------------------------------------------------------------------------
disk_ceiling() { # bytes
	"$BIN/rawsync" -dir "$WORK" -bytes "$1" -write $((100 << 10)) -record-bytes $RECORD_BYTES
}

# disk_ceiling_3 BYTES: three rawsync at once, BYTES each; records/s of one writer (its bytes
# over the slowest writer's time), the latencies of the slowest.
disk_ceiling_3() {
	local i pids=() outs=()
	for i in 1 2 3; do
		mkdir -p "$WORK/raw$i"
		"$BIN/rawsync" -dir "$WORK/raw$i" -bytes "$1" -write $((100 << 10)) -record-bytes $RECORD_BYTES >"$WORK/raw$i.json" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	for i in 1 2 3; do outs+=("$(cat "$WORK/raw$i.json")"); done
	printf '%s\n' "${outs[@]}" | jq -s -c --argjson size $RECORD_BYTES '
		(max_by(.seconds)) as $slow
		| {records: ($slow.bytes / $size), records_per_sec: ($slow.bytes / $size / $slow.seconds),
		   mb_per_sec: ($slow.bytes / 1e6 / $slow.seconds), p50_ms: $slow.p50_ms, p99_ms: $slow.p99_ms}'
}

# ---- medians and the table -----------------------------------------------------------------
# median_of CMD ARGS...: runs CMD REPEAT times (with the run number as $RUN) and prints the run
# whose records_per_sec is the median, with every run's records/s in .runs.
median_of() {
	local runs=()
	for RUN in $(seq "$REPEAT"); do
		printf '   run %d/%d: %s\n' "$RUN" "$REPEAT" "$*" >&2
		runs+=("$("$@")")
	done
	printf '%s\n' "${runs[@]}" | jq -s -c '(map(.records_per_sec | round)) as $all | (map(.leader_changes)) as $changes
		| sort_by(.records_per_sec) | .[(length - 1) / 2 | floor] + {runs: $all, leader_changes_all: $changes}'
}

ROWS=()
row() { # system, json, shoal json (for the ratio) or empty, note
	local ratio=-
	if [ -n "$3" ]; then
		ratio=$(jq -n --argjson s "$3" --argjson o "$2" '$s.records_per_sec / $o.records_per_sec * 100 | round / 100')
		ratio="${ratio}x"
	fi
	ROWS+=("$(jq -r -n --arg sys "$1" --arg ratio "$ratio" --arg note "${4:-}" --argjson r "$2" \
		'[$sys, ($r.records | round | tostring), ($r.records_per_sec | round | tostring),
		  ($r.mb_per_sec * 10 | round / 10 | tostring), ($r.p50_ms * 100 | round / 100 | tostring),
		  ($r.p99_ms * 100 | round / 100 | tostring), $ratio,
		  (if ($r.runs // [] | length) > 1 then ($r.runs | map(tostring) | join(" / ")) else "" end), $note] | join("|")')")
}

print_table() {
	printf '%s\n' "system|records|records/s|MB/s|p50 ms|p99 ms|Shoal/this|each run|note" "${ROWS[@]}" |
		column -t -s '|'
}

goal() { # text, shoal json, other json (or a number), factor
	local got
	got=$(jq -n --argjson s "$2" --argjson o "$3" '$s.records_per_sec / (if ($o | type) == "number" then $o else $o.records_per_sec end)')
	if jq -e -n --argjson g "$got" --argjson f "$4" '$g >= $f' >/dev/null; then
		printf '  met     %s: %.2fx (goal %sx)\n' "$1" "$got" "$4"
	else
		printf '  MISSED  %s: %.2fx (goal %sx)\n' "$1" "$got" "$4"
	fi
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# cpu_seconds PID...: user + system CPU seconds the processes have used so far.
cpu_seconds() {
	local pid total=0 f
	for pid in "$@"; do
		read -r -a f <"/proc/$pid/stat" # fields 14 and 15: utime, stime in clock ticks
		total=$((total + f[13] + f[14]))
	done
	jq -n --argjson t $total --argjson hz "$(getconf CLK_TCK)" '$t / $hz'
}

# bench_produce ARGS...: shoal bench produce ARGS --json, with the client's CPU seconds added
# to its summary as client_cpu_s.
bench_produce() {
	local TIMEFORMAT='%U %S' rc=0
	{ time "$SHOAL_BIN" bench produce "$@" --json >"$WORK/bench.out" 2>"$WORK/bench.err"; } 2>"$WORK/bench.time" || rc=$?
	if [ $rc != 0 ]; then
		cat "$WORK/bench.err" >&2
		die "shoal bench produce failed (exit $rc)"
	fi
	jq -c --argjson cpu "$(awk '{ print $1 + $2 }' "$WORK/bench.time")" '. + {client_cpu_s: $cpu}' "$WORK/bench.out"
}

# cpu_note JSON: CPU seconds per million records of the servers and of the client.
cpu_note() {
	jq -n -r --argjson r "$1" '"CPU s per 1M records: servers \($r.server_cpu_s / $r.records * 1e6 * 10 | round / 10),"
		+ " client \($r.client_cpu_s / $r.records * 1e6 * 10 | round / 10)"'
}



main() {
	local node p
	for node in "${NODES[@]}"; do
		for p in "$(broker_addr "$node")" "$(http_addr "$node")" "$(gossip_addr "$node")"; do
			port_free "${p##*:}" || die "port ${p##*:} on 127.0.0.1 is in use: stop what listens there first"
		done
		for p in "$(nats_port "$node")" "$(nats_route_port "$node")" "$(nats_http_port "$node")"; do
			port_free "$p" || die "port $p on 127.0.0.1 is in use: stop what listens there first"
		done
	done
	port_free "${SINGLE_ADDR##*:}" && port_free "${SINGLE_HTTP##*:}" || die "port ${SINGLE_ADDR##*:} or ${SINGLE_HTTP##*:} is in use"
	install_tools
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/shoal-cluster-bench.XXXXXX")
	local load_start bytes=$((RECORDS * RECORD_BYTES))
	load_start=$(loadavg)
	if awk -v n="$(nproc)" '{ exit !($1 > n / 2) }' /proc/loadavg; then
		log "WARNING: load average $load_start on $(nproc) cores before starting: other processes are busy," \
			"and these figures will be lower and noisier than on a quiet machine"
	fi
	log "records: $RECORDS per run (JetStream R3 always: $NATS_ALWAYS_RECORDS), $RECORD_BYTES-byte values," \
		"$PARTITIONS partitions RF $REPLICATION, median of $REPEAT runs; load average $load_start; work dir $WORK"

	log "1. Shoal: three nodes, RF 3, acks quorum, fsync always (with the disk ceiling before and after)"
	local ceil1 ceil2 ceiling third s1 susp0 susp1
	ceil1=$(median_of disk_ceiling $bytes)
	start_shoal_cluster
	log "   cluster ready: $(cluster_status | jq -r '[.members[] | "\(.id) \(.state)"] | join(", ")')"
	susp0=$(suspicions)
	s1=$(median_of shoal_cluster_run)
	susp1=$(suspicions)
	stop "${SHOAL_PIDS[@]}"
	ceil2=$(median_of disk_ceiling $bytes)
	ceiling=$(jq -n -c --argjson a "$ceil1" --argjson b "$ceil2" --argjson size $RECORD_BYTES \
		'{records: ($a.bytes / $size), records_per_sec: (($a.records_per_sec + $b.records_per_sec) / 2),
		  mb_per_sec: (($a.mb_per_sec + $b.mb_per_sec) / 2), p50_ms: (($a.p50_ms + $b.p50_ms) / 2),
		  p99_ms: (($a.p99_ms + $b.p99_ms) / 2), before: $a.records_per_sec, after: $b.records_per_sec}')
	third=$(jq -n -c --argjson c "$ceiling" '$c + {records_per_sec: ($c.records_per_sec / 3), mb_per_sec: ($c.mb_per_sec / 3)}')
	log "   three writers on the disk at once"
	local ceil3
	ceil3=$(median_of disk_ceiling_3 $bytes)

	local single=
	if [ "$SINGLE" != 0 ]; then
		log "   reference: one standalone Shoal node, fsync always"
		start_shoal_single
		single=$(median_of shoal_single_run)
		stop "$SINGLE_PID"
	fi

	log "2a. NATS JetStream: three servers, stream R3 on file, sync_interval always"
	local n1 n2
	start_nats_cluster always
	n1=$(median_of nats_pub "$NATS_ALWAYS_RECORDS")
	stop "${NATS_PIDS[@]}"
	log "2b. NATS JetStream: three servers, stream R3 on file, default sync"
	start_nats_cluster default
	n2=$(median_of nats_pub "$RECORDS")
	stop "${NATS_PIDS[@]}"

	local changes
	changes=$(jq -n -r --argjson s "$s1" '$s.leader_changes_all | map(tostring) | join(" / ")')
	row "shoal 3 nodes RF3 acks quorum, fsync always" "$s1" "" "epoch changes in each run: $changes; $(cpu_note "$s1")"
	row "nats jetstream 3 servers R3, sync_interval always" "$n1" "$s1" "matched durability; $(cpu_note "$n1")"
	row "nats jetstream 3 servers R3, default sync" "$n2" "$s1" "fsync every 2 min; $(cpu_note "$n2")"
	row "disk: write+fdatasync 100 KiB, one writer" "$ceiling" "$s1" "before/after Shoal"
	row "disk ceiling / 3 (three replicas, one disk)" "$third" "$s1" ""
	row "disk: three writers at once, each" "$ceil3" "$s1" "measured"
	[ -z "$single" ] || row "shoal 1 node standalone, fsync always" "$single" "$s1" "reference: no replication; $(cpu_note "$single")"

	echo
	echo "Shoal $SHOAL_VERSION" \
		"vs NATS $NATS_SERVER_VERSION (nats CLI $NATS_CLI_VERSION), $RECORD_BYTES-byte records, median of $REPEAT runs," \
		"$(nproc) cores, one disk"
	echo "shoal: $PARTITIONS partitions, RF $REPLICATION, gossip profile local; shoal bench produce defaults" \
		"(8 producers, linger 5ms, batch 1 MiB, 16 in flight)${SHOAL_BENCH_ARGS:+ + $SHOAL_BENCH_ARGS}; nats: $NATS_CLIENTS clients, async publish, batch 500"
	print_table
	echo "latency as each tool reports it: shoal per record send->ack; nats per async publish; disk per write+fdatasync"
	echo
	printf 'disk ceiling before / after the Shoal runs: %.0f / %.0f records/s\n' \
		"$(jq -n --argjson c "$ceiling" '$c.before')" "$(jq -n --argjson c "$ceiling" '$c.after')"
	echo "gossip suspicions logged by the Shoal nodes during their runs: $((susp1 - susp0)) (grep Suspect|Failed fallback in the node logs)"
	echo "load average at start / end: $load_start / $(loadavg) (other processes on this machine make the figures noisy)"
	echo "goals of the issue:"
	goal "shoal RF3 quorum/always, absolute (1 M records/s)" "$s1" 1000000 1
	goal "shoal RF3 quorum/always vs JetStream R3 sync_interval always" "$s1" "$n1" 10
	echo "  (info) vs JetStream R3 default sync: $(jq -n --argjson s "$s1" --argjson o "$n2" '$s.records_per_sec / $o.records_per_sec * 100 | round / 100')x;" \
		"vs the disk's ceiling / 3: $(jq -n --argjson s "$s1" --argjson o "$third" '$s.records_per_sec / $o.records_per_sec * 100 | round / 100')x;" \
		"vs three writers measured: $(jq -n --argjson s "$s1" --argjson o "$ceil3" '$s.records_per_sec / $o.records_per_sec * 100 | round / 100')x"
}

main "$@"
