#!/usr/bin/env bash
# Figures for the closing note of the Redis-front issue (issue 8): Shoal's RESP front side by
# side with redis-server 7.0 (Debian's package), in one run on this machine.
#
#   1. XADD, matched durability: redis-server --appendonly yes --appendfsync always vs one Shoal
#      node --fsync always; then redis-server --appendfsync everysec vs Shoal --fsync interval.
#      Both with: redis-benchmark -p PORT -c 50 -P 16 -n N -q XADD KEY '*' field value
#   2. Consumer groups (on the fsync-always pair): a stream pre-filled with FILL entries,
#      a. XREADGROUP alone: redis-benchmark -c 50 -P 1 -n READ_N XREADGROUP GROUP gN c COUNT 100
#         STREAMS KEY '>' (fixed command, so all 50 clients are one consumer); entries/s is
#         requests/s x the entries each reply carried on average, from XINFO GROUPS' entries-read
#         of the group afterwards (so an empty reply counts as zero, and is reported);
#      b. XREADGROUP + XACK: bench/redisgroup (go-redis), CONSUMERS consumers each looping
#         XREADGROUP COUNT 100 > then XACK of the ids it got, until FILL entries are acked or
#         READ_SECONDS pass; entries/s = acked entries over the elapsed time.
#
# Every figure is the median of REPEAT runs, interleaved A B B A ... (Redis first in odd runs,
# Shoal first in even runs) so that a drifting machine hurts neither side. Each XADD run writes
# a new key (bench-RUN); each group run reads with a new group (from 0).
#
# Usage: bench/redis.sh                        (N=200000 REPEAT=3)
#        N=50000 REPEAT=1 bench/redis.sh       (a quick look)
# Knobs (environment): N (XADDs per redis-benchmark run), REPEAT, FILL (entries pre-filled for
# the group figures, 200000), READ_N (XREADGROUP requests per redis-benchmark run, 2000),
# CONSUMERS (bench/redisgroup's consumers, 16), READ_SECONDS (its time bound, 30),
# BENCH_TIMEOUT (seconds one redis-benchmark or redisgroup run may take before it counts as hung,
# 300), SHOAL_BIN (a shoal binary instead of building ./cmd/shoal from the work tree), KEEP=1
# (keep the work dir with the data and logs).
#
# It installs what it lacks: redis-server and redis-tools (redis-benchmark, redis-cli), jq from
# Debian's packages. Servers listen on 127.0.0.1 only, on the first free ports from 16479
# (Redis) and 18570 (Shoal: broker, http, resp), with their data in a temp dir, and are stopped
# on exit. Not part of make test.
set -euo pipefail
shopt -s inherit_errexit # a failing step inside $(...) stops the script too
cd "$(dirname "$0")/.."
command -v go >/dev/null || export PATH=/usr/local/go/bin:$PATH

N=${N:-200000}
REPEAT=${REPEAT:-3}
FILL=${FILL:-200000}
READ_N=${READ_N:-2000}
CONSUMERS=${CONSUMERS:-16}
READ_SECONDS=${READ_SECONDS:-30}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-300}
SHOAL_BIN=${SHOAL_BIN:-}
SHOAL_VERSION="binary ${SHOAL_BIN:-?}"
READY_TIMEOUT_S=30
BIN=$PWD/bin

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'redis.sh: %s\n' "$*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

# ---- install -------------------------------------------------------------------------------
install_tools() {
	local missing=()
	command -v redis-server >/dev/null || missing+=(redis-server)
	command -v redis-benchmark >/dev/null || missing+=(redis-tools)
	command -v redis-cli >/dev/null || missing+=(redis-tools)
	command -v jq >/dev/null || missing+=(jq)
	if ((${#missing[@]})); then
		apt_install "${missing[@]}"
	fi
	mkdir -p "$BIN"
	if [ -n "$SHOAL_BIN" ]; then
		log "using $SHOAL_BIN (SHOAL_BIN); building redisgroup (bench/redisgroup)"
	else
		log "building shoal and redisgroup (bench/redisgroup)"
		go build -o "$BIN/shoal" ./cmd/shoal
		SHOAL_BIN=$BIN/shoal
		SHOAL_VERSION=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
		[ -z "$(git status --porcelain --untracked-files=no -- '*.go' go.mod go.sum 2>/dev/null)" ] ||
			SHOAL_VERSION+=" + uncommitted Go changes in the work tree"
	fi
	(cd bench/redisgroup && go build -o "$BIN/redisgroup" .)
}

# ---- processes -----------------------------------------------------------------------------
# WORK, PIDS and their cleanup on exit: bench/lib.sh

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() { # from: the first port from there that nothing listens on
	local p=$1
	while listening "$p"; do p=$((p + 1)); done
	echo "$p"
}

# wait_until WHAT TIMEOUT_S PID CMD...: polls CMD (every 0.1 s) until it succeeds; dies when PID
# exits or the deadline passes.
wait_until() {
	local what=$1 timeout_s=$2 pid=$3 deadline
	shift 3
	deadline=$((SECONDS + timeout_s))
	until "$@" >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || die "a server exited while waiting for $what; logs are in $WORK"
		((SECONDS <= deadline)) || die "$what: not within ${timeout_s}s; logs are in $WORK"
		sleep 0.1 # polling a condition with a deadline
	done
}

pong() { [ "$(redis-cli -p "$1" PING)" = PONG ]; }
cli() { redis-cli -p "$@"; } # port args...

cpu_seconds() { # pid: user + system CPU seconds the process has used so far
	local f
	read -r -a f <"/proc/$1/stat" # fields 14 and 15: utime, stime in clock ticks
	jq -n --argjson t $((f[13] + f[14])) --argjson hz "$(getconf CLK_TCK)" '$t / $hz'
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

REDIS_PID= REDIS_PORT= REDIS_MODE=
start_redis() { # always|everysec
	local dir=$WORK/redis-$1
	mkdir -p "$dir"
	REDIS_PORT=$(free_port 16479)
	REDIS_MODE=$1
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly yes \
		--appendfsync "$1" --daemonize no --logfile "$dir/redis.log" &
	REDIS_PID=$!
	PIDS+=("$REDIS_PID")
	wait_until "redis-server on $REDIS_PORT" $READY_TIMEOUT_S "$REDIS_PID" pong "$REDIS_PORT"
	log "   redis-server $(redis-server --version | awk '{print $3}') on 127.0.0.1:$REDIS_PORT (pid $REDIS_PID): --save '' --appendonly yes --appendfsync $1, dir $dir"
}

SHOAL_PID= SHOAL_PORT= SHOAL_MODE=
start_shoal() { # always|interval
	local dir=$WORK/shoal-$1 broker http
	mkdir -p "$dir"
	broker=$(free_port 18570)
	http=$(free_port $((broker + 1)))
	SHOAL_PORT=$(free_port $((http + 1)))
	SHOAL_MODE=$1
	"$SHOAL_BIN" serve --data-dir "$dir/data" --broker-addr "127.0.0.1:$broker" --http-addr "127.0.0.1:$http" \
		--resp-addr "127.0.0.1:$SHOAL_PORT" --fsync "$1" --log-level warn >"$dir/shoal.log" 2>&1 &
	SHOAL_PID=$!
	PIDS+=("$SHOAL_PID")
	wait_until "shoal's RESP front on $SHOAL_PORT" $READY_TIMEOUT_S "$SHOAL_PID" pong "$SHOAL_PORT"
	log "   shoal ($SHOAL_VERSION) RESP on 127.0.0.1:$SHOAL_PORT (pid $SHOAL_PID): --fsync $1, dir $dir"
}

# ---- runs ----------------------------------------------------------------------------------
# One run prints one JSON object: {ok, rate (ops or entries per second), p50_ms, cpu_s, cmd, ...}
# or {ok: false, error, cmd}.

# rbench SYSTEM PORT PID ARGS...: redis-benchmark --csv ARGS against PORT, bounded by BENCH_TIMEOUT.
rbench() {
	local sys=$1 port=$2 pid=$3 out rc=0 cpu0 cpu1 cmd
	shift 3
	cmd="redis-benchmark -p $port $*"
	cpu0=$(cpu_seconds "$pid")
	out=$(timeout "$BENCH_TIMEOUT" redis-benchmark -p "$port" --csv "$@" 2>&1) || rc=$?
	cpu1=$(cpu_seconds "$pid")
	# --csv: a header line, then "XADD ...","75528.70","9.1","0.5","7.967","20.1","25.3","40.1"
	local rps p50
	rps=$(awk -F'","' '$1 != "\"test" && NF >= 8 { print $2; exit }' <<<"$out")
	p50=$(awk -F'","' '$1 != "\"test" && NF >= 8 { print $5; exit }' <<<"$out")
	if [ $rc != 0 ] || [ -z "$rps" ] || grep -qiE '^(ERR|error)|Error' <<<"$out"; then
		printf '      %s: FAILED (exit %d): %s\n' "$sys" $rc "$(tail -c 600 <<<"$out" | tr '\r' '\n' | tail -3)" >&2
		local why="exit $rc"
		[ $rc != 124 ] || why="timed out after ${BENCH_TIMEOUT}s"
		jq -nc --arg cmd "$cmd" --arg err "$why: $(tail -c 600 <<<"$out" | tr '\r' '\n' | tail -3)" \
			'{ok: false, error: $err, cmd: $cmd}'
		return
	fi
	jq -nc --arg cmd "$cmd" --argjson rps "$rps" --argjson p50 "$p50" --argjson cpu "$(jq -n "$cpu1 - $cpu0")" \
		'{ok: true, rate: $rps, requests_per_sec: $rps, p50_ms: $p50, cpu_s: $cpu, cmd: $cmd}'
}

xadd_run() { # system port pid
	local out
	out=$(rbench "$1" "$2" "$3" -c 50 -P 16 -n "$N" -q XADD "bench-$RUN" '*' field value)
	if jq -e .ok <<<"$out" >/dev/null; then
		local len
		len=$(cli "$2" XLEN "bench-$RUN")
		out=$(jq -c --argjson len "$len" '. + {xlen: $len}' <<<"$out")
		printf '      %-5s %8.0f XADD/s, p50 %s ms, server CPU %.1f s, XLEN %s; load %s\n' "$1" \
			"$(jq .rate <<<"$out")" "$(jq .p50_ms <<<"$out")" "$(jq .cpu_s <<<"$out")" "$len" "$(loadavg)" >&2
		[ "$len" = "$N" ] || printf '      %s: XLEN %s after %s XADDs\n' "$1" "$len" "$N" >&2
	fi
	echo "$out"
}

# xreadgroup_run SYSTEM PORT PID: redis-benchmark XREADGROUP on the pre-filled key with group rb-RUN.
xreadgroup_run() {
	local out group=rb-$RUN read pending
	cli "$2" XGROUP CREATE fill "$group" 0 >/dev/null
	out=$(rbench "$1" "$2" "$3" -c 50 -P 1 -n "$READ_N" -q XREADGROUP GROUP "$group" c COUNT 100 STREAMS fill '>')
	read=$(cli "$2" --json XINFO GROUPS fill 2>/dev/null | jq --arg g "$group" '.[] | select(.name == $g) | ."entries-read" // 0' ||
		cli "$2" XINFO GROUPS fill | awk -v g="$group" '$0 == g { f = 1 } f && prev == "entries-read" { print; exit } { prev = $0 }')
	pending=$(cli "$2" XPENDING fill "$group" | head -1)
	[ -n "$read" ] && [ "$read" != null ] || read=0
	if jq -e .ok <<<"$out" >/dev/null; then
		out=$(jq -c --argjson read "$read" --argjson pending "${pending:-0}" --argjson n "$READ_N" \
			'. + {entries_read: $read, pending: $pending, per_reply: ($read / $n), rate: (.requests_per_sec * $read / $n)}' <<<"$out")
		printf '      %-5s %8.0f entries/s (%.0f XREADGROUP/s x %.1f entries a reply; entries-read %s, XPENDING %s), p50 %s ms, server CPU %.1f s\n' \
			"$1" "$(jq .rate <<<"$out")" "$(jq .requests_per_sec <<<"$out")" "$(jq .per_reply <<<"$out")" "$read" "${pending:-?}" \
			"$(jq .p50_ms <<<"$out")" "$(jq .cpu_s <<<"$out")" >&2
		[ "$read" != 0 ] || printf '      %s: every XREADGROUP reply was empty\n' "$1" >&2
	fi
	echo "$out"
}

# group_run SYSTEM PORT PID: bench/redisgroup (XREADGROUP + XACK) with group rg-RUN.
group_run() {
	local out rc=0 cpu0 cpu1 group=rg-$RUN cmd
	cli "$2" XGROUP CREATE fill "$group" 0 >/dev/null
	cmd="bin/redisgroup -addr 127.0.0.1:$2 -key fill -group $group -consumers $CONSUMERS -count 100 -entries $FILL -duration ${READ_SECONDS}s"
	cpu0=$(cpu_seconds "$3")
	out=$(timeout "$BENCH_TIMEOUT" "$BIN/redisgroup" -addr "127.0.0.1:$2" -key fill -group "$group" -consumers "$CONSUMERS" \
		-count 100 -entries "$FILL" -duration "${READ_SECONDS}s" 2>&1) || rc=$?
	cpu1=$(cpu_seconds "$3")
	if [ $rc != 0 ] || ! jq -e . <<<"$out" >/dev/null 2>&1; then
		printf '      %s: FAILED (exit %d): %s\n' "$1" $rc "$out" >&2
		jq -nc --arg cmd "$cmd" --arg err "exit $rc: $out" '{ok: false, error: $err, cmd: $cmd}'
		return
	fi
	out=$(jq -c --arg cmd "$cmd" --argjson cpu "$(jq -n "$cpu1 - $cpu0")" \
		'. + {ok: true, rate: .entries_per_sec, p50_ms: .read_p50_ms, cpu_s: $cpu, cmd: $cmd}' <<<"$out")
	printf '      %-5s %8.0f entries/s read+acked (%s acked in %.1f s, %s; XREADGROUP p50 %s ms p99 %s ms, XACK p50 %s ms p99 %s ms), server CPU %.1f s\n' \
		"$1" "$(jq .rate <<<"$out")" "$(jq .acked <<<"$out")" "$(jq .seconds <<<"$out")" "$(jq -r .stopped_by <<<"$out")" \
		"$(jq .read_p50_ms <<<"$out")" "$(jq .read_p99_ms <<<"$out")" "$(jq .ack_p50_ms <<<"$out")" \
		"$(jq .ack_p99_ms <<<"$out")" "$(jq .cpu_s <<<"$out")" >&2
	echo "$out"
}

# interleaved NAME FN: REPEAT runs of FN against both servers, A B B A ...; sets R_JSON and
# S_JSON to the median runs (with every run's rate in .runs and the failures in .errors).
R_JSON= S_JSON=
interleaved() {
	local name=$1 fn=$2 r=() s=() order
	for RUN in $(seq "$REPEAT"); do
		if ((RUN % 2)); then order="redis shoal"; else order="shoal redis"; fi
		log "   $name, run $RUN/$REPEAT ($order)"
		for sys in $order; do
			if [ $sys = redis ]; then
				r+=("$($fn redis "$REDIS_PORT" "$REDIS_PID")")
			else
				s+=("$($fn shoal "$SHOAL_PORT" "$SHOAL_PID")")
			fi
		done
	done
	R_JSON=$(median "${r[@]}")
	S_JSON=$(median "${s[@]}")
}

median() { # run json...: the median of the ok runs, with .runs and .errors
	printf '%s\n' "$@" | jq -s -c '(map(select(.ok))) as $ok | (map(select(.ok | not) | .error)) as $errs
		| (map(if .ok then (.rate | round) else "failed" end)) as $all
		| if ($ok | length) == 0 then {ok: false, runs: $all, errors: $errs, cmd: .[0].cmd}
		  else ($ok | sort_by(.rate) | .[(length - 1) / 2 | floor]) + {runs: $all, errors: $errs} end'
}

# ---- table ---------------------------------------------------------------------------------
ROWS=()
CMDS=()
ERRORS=()
row() { # figure, unit, redis json, shoal json
	local ratio
	ratio=$(jq -rn --argjson r "$3" --argjson s "$4" \
		'if $r.ok and $s.ok then ($s.rate / $r.rate * 100 | round / 100 | tostring) + "x" else "-" end')
	ROWS+=("$(jq -rn --arg fig "$1" --arg unit "$2" --arg ratio "$ratio" --argjson r "$3" --argjson s "$4" '
		def rate(x): if x.ok then (x.rate | round | tostring) else "FAILED" end;
		def runs(x): x.runs | map(tostring) | join(" / ");
		[$fig, $unit, rate($r), rate($s), $ratio, runs($r), runs($s)] | join("|")')")
	CMDS+=("$1, Redis:  $(jq -r .cmd <<<"$3")" "$1, Shoal:  $(jq -r .cmd <<<"$4")")
	local e
	while IFS= read -r e; do [ -z "$e" ] || ERRORS+=("$1, Redis: $e"); done < <(jq -r '.errors[]?' <<<"$3")
	while IFS= read -r e; do [ -z "$e" ] || ERRORS+=("$1, Shoal: $e"); done < <(jq -r '.errors[]?' <<<"$4")
}

# ---- main ----------------------------------------------------------------------------------
install_tools
WORK=$(mktemp -d /tmp/shoal-redis-bench.XXXXXX)
log "work dir $WORK; N=$N REPEAT=$REPEAT FILL=$FILL READ_N=$READ_N CONSUMERS=$CONSUMERS READ_SECONDS=$READ_SECONDS; $(nproc) CPUs, load $(loadavg)"

log "1. fsync on every write: redis-server --appendfsync always vs shoal --fsync always"
start_redis always
start_shoal always
interleaved "XADD -c 50 -P 16 -n $N" xadd_run
row "XADD, fsync always" "XADD/s" "$R_JSON" "$S_JSON"

log "2. consumer groups on the same servers: pre-filling key fill with $FILL entries"
for port in "$REDIS_PORT" "$SHOAL_PORT"; do
	timeout "$BENCH_TIMEOUT" redis-benchmark -p "$port" -c 50 -P 16 -n "$FILL" -q XADD fill '*' field value >/dev/null 2>&1 ||
		log "   pre-fill of port $port failed or timed out"
	log "   port $port: XLEN fill = $(cli "$port" XLEN fill)"
done
interleaved "XREADGROUP COUNT 100 (redis-benchmark -c 50 -P 1 -n $READ_N)" xreadgroup_run
row "XREADGROUP COUNT 100, fsync always" "entries/s" "$R_JSON" "$S_JSON"
interleaved "XREADGROUP + XACK (bench/redisgroup, $CONSUMERS consumers)" group_run
row "XREADGROUP+XACK, fsync always" "entries/s" "$R_JSON" "$S_JSON"
stop "$REDIS_PID" "$SHOAL_PID"

log "3. periodic fsync: redis-server --appendfsync everysec vs shoal --fsync interval (100ms)"
start_redis everysec
start_shoal interval
interleaved "XADD -c 50 -P 16 -n $N" xadd_run
row "XADD, everysec vs interval" "XADD/s" "$R_JSON" "$S_JSON"
stop "$REDIS_PID" "$SHOAL_PID"

echo
echo "Shoal ($SHOAL_VERSION) vs redis-server $(redis-server --version | awk '{print $3}'), $(nproc) CPUs, $(date -u +%FT%TZ); medians of $REPEAT interleaved runs"
printf '%s\n' "figure|unit|Redis|Shoal|Shoal/Redis|Redis runs|Shoal runs" "${ROWS[@]}" | column -t -s '|'
echo
echo "Commands (KEY bench-RUN is a new key per run; gN a new group per run):"
printf '  %s\n' "${CMDS[@]}"
if ((${#ERRORS[@]})); then
	echo
	echo "Failures:"
	printf '  %s\n' "${ERRORS[@]}"
fi
