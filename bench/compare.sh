#!/usr/bin/env bash
# Figures for the closing note of the single-node issue: Shoal side by side with Redis streams
# and NATS JetStream, in one run on this machine, with 100-byte records.
#
#   1. durable produce, acknowledged after fsync:
#        shoal bench produce (--fsync always)  vs  redis-benchmark XADD (appendfsync always,
#        50 clients x pipeline 16)  vs  nats bench js pub async (file store, sync_interval: always)
#   2. produce with periodic fsync:
#        shoal --fsync interval  vs  Redis appendfsync everysec  vs  JetStream defaults
#   3. catch-up consume of CONSUME_RECORDS records:
#        shoal bench consume  vs  one reader paging a Redis stream with XREAD COUNT 100 (and XRANGE)
#   4. the disk's group-commit ceiling: write + fdatasync of the same bytes in 100 KiB writes
#      (bench/tools/rawsync), measured just before and just after Shoal's durable run.
#
# Every figure is the median of REPEAT runs. Ratios are Shoal's records/s over the other's.
#
# Usage: bench/compare.sh            (RECORDS=1000000 REPEAT=3; about 4 minutes once installed)
#        RECORDS=200000 REPEAT=1 bench/compare.sh   (a quick look)
# Knobs (environment): RECORDS (produce, per run), CONSUME_RECORDS, NATS_ALWAYS_RECORDS (JetStream
# with sync_interval always fsyncs every message: about 2,000/s here, so it gets fewer), REPEAT,
# NATS_CLIENTS, SHOAL_BENCH_ARGS (extra flags of `shoal bench produce`), KEEP=1 (keep the temp dir).
#
# It installs what it lacks: redis-server, redis-tools and jq from Debian's packages (apt-get),
# nats-server and the nats CLI with `go install` into bin/ (git-ignored). Servers listen on
# 127.0.0.1 only, with their data in a temp dir, and are stopped on exit. Not part of make test.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || export PATH=/usr/local/go/bin:$PATH

RECORDS=${RECORDS:-1000000}
CONSUME_RECORDS=${CONSUME_RECORDS:-1000000}
NATS_ALWAYS_RECORDS=${NATS_ALWAYS_RECORDS:-20000}
REPEAT=${REPEAT:-3}
NATS_CLIENTS=${NATS_CLIENTS:-8}
SHOAL_BENCH_ARGS=${SHOAL_BENCH_ARGS:-}
RECORD_BYTES=100
NATS_SERVER_VERSION=v2.15.2
NATS_CLI_VERSION=v0.5.1
SHOAL_ADDR=127.0.0.1:17070
SHOAL_HTTP=127.0.0.1:17071
REDIS_PORT=16379
NATS_PORT=14222
BIN=$PWD/bin

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'compare.sh: %s\n' "$*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source bench/lib.sh

# ---- install -------------------------------------------------------------------------------
install_tools() {
	local missing=()
	command -v redis-server >/dev/null || missing+=(redis-server)
	command -v redis-benchmark >/dev/null || missing+=(redis-tools)
	command -v jq >/dev/null || missing+=(jq)
	apt_install "${missing[@]}"
	mkdir -p "$BIN"
	if [ ! -x "$BIN/nats-server" ] || ! "$BIN/nats-server" --version | grep -q "$NATS_SERVER_VERSION"; then
		log "go install nats-server@$NATS_SERVER_VERSION into bin/"
		GOBIN=$BIN go install "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION"
	fi
	if [ ! -x "$BIN/nats" ] || ! "$BIN/nats" --version 2>&1 | grep -q "$NATS_CLI_VERSION"; then
		log "go install nats CLI@$NATS_CLI_VERSION into bin/"
		GOBIN=$BIN go install "github.com/nats-io/natscli/nats@$NATS_CLI_VERSION"
	fi
	log "building shoal and the helpers (bench/tools)"
	go build -o "$BIN/shoal" ./cmd/shoal
	(cd bench/tools && go build -o "$BIN/rawsync" ./rawsync && go build -o "$BIN/redisread" ./redisread)
}

# ---- servers -------------------------------------------------------------------------------
# WORK, PIDS and their cleanup on exit: bench/lib.sh

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port, what, pid
	for _ in $(seq 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || die "$2 exited while starting; its log is in $WORK"
		sleep 0.05
	done
	die "$2 did not listen on port $1 within 10s"
}

start_shoal() { # fsync policy; sets SERVER_PID
	local dir=$WORK/shoal-$1
	mkdir -p "$dir"
	"$BIN/shoal" serve --data-dir "$dir" --broker-addr $SHOAL_ADDR --http-addr $SHOAL_HTTP \
		--fsync "$1" --log-level warn >"$WORK/shoal-$1.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	wait_port "${SHOAL_ADDR##*:}" "shoal serve --fsync $1" "$SERVER_PID"
}

start_redis() { # appendfsync always|everysec|no; sets SERVER_PID
	local dir=$WORK/redis-$1 aof=yes
	[ "$1" = no ] && aof=no
	mkdir -p "$dir"
	redis-server --port $REDIS_PORT --bind 127.0.0.1 --dir "$dir" --save '' --appendonly $aof \
		--appendfsync "$1" --daemonize no --logfile "$dir/redis.log" &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	wait_port $REDIS_PORT "redis-server" "$SERVER_PID"
}

start_nats() { # always|default; sets SERVER_PID
	local dir=$WORK/nats-$1
	mkdir -p "$dir"
	{
		echo "listen: 127.0.0.1:$NATS_PORT"
		echo "jetstream { store_dir: \"$dir/js\""
		[ "$1" = always ] && echo "  sync_interval: always"
		echo "}"
	} >"$dir/nats.conf"
	"$BIN/nats-server" -c "$dir/nats.conf" >"$dir/nats.log" 2>&1 &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	wait_port $NATS_PORT "nats-server" "$SERVER_PID"
}

# ---- one measurement each; every function prints one JSON object ---------------------------
# {"records":N,"records_per_sec":R,"mb_per_sec":M,"p50_ms":A,"p99_ms":B}

VALUE=$(printf 'v%.0s' $(seq $RECORD_BYTES))

shoal_produce() { # topic
	# shellcheck disable=SC2086
	"$BIN/shoal" bench produce --brokers $SHOAL_ADDR --topic "$1" --records "$RECORDS" \
		--record-bytes $RECORD_BYTES --progress=false --json $SHOAL_BENCH_ARGS
}

shoal_consume() { # topic
	"$BIN/shoal" bench consume --brokers $SHOAL_ADDR --topic "$1" --records "$CONSUME_RECORDS" --progress=false --json
}

redis_xadd() { # key, records
	redis-benchmark -p $REDIS_PORT -n "$2" -c 50 -P 16 --csv XADD "$1" '*' f "$VALUE" |
		awk -F'"' -v n="$2" 'NR == 2 {
			rps = $4; p50 = $10; p99 = $14
			printf "{\"records\":%d,\"records_per_sec\":%s,\"mb_per_sec\":%f,\"p50_ms\":%s,\"p99_ms\":%s}\n", n, rps, rps * 100 / 1e6, p50, p99
		}'
}

redis_read() { # key, xread|xrange
	"$BIN/redisread" -addr 127.0.0.1:$REDIS_PORT -key "$1" -records "$CONSUME_RECORDS" -count 100 -cmd "$2"
}

nats_pub() { # records
	local out
	out=$("$BIN/nats" -s nats://127.0.0.1:$NATS_PORT bench js pub async bench.sub --create --purge --storage file \
		--msgs "$1" --size ${RECORD_BYTES}B --clients "$NATS_CLIENTS" --no-progress 2>&1) || { echo "$out" >&2; return 1; }
	# "aggregated stats: 124,390 msgs/sec" and "latencies per operation ... P50 1,228.34us ... P99 2,961.22us"
	# (one client prints "publisher stats: ... P50: ...us ... P99: ...us" instead).
	awk -v n="$1" -v size=$RECORD_BYTES '
		/stats: / { for (i = 1; i <= NF; i++) if ($(i) == "msgs/sec") { r = $(i - 1); gsub(",", "", r); rps = r } }
		/P50/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^P50:?$/) { v = $(i + 1); gsub("[,us]", "", v); p50 = v / 1000 }
		                                   if ($(i) ~ /^P99:?$/) { v = $(i + 1); gsub("[,us]", "", v); p99 = v / 1000 } } }
		END { if (rps == "") exit 1
		      printf "{\"records\":%d,\"records_per_sec\":%s,\"mb_per_sec\":%f,\"p50_ms\":%s,\"p99_ms\":%s}\n", n, rps, rps * size / 1e6, p50 + 0, p99 + 0 }
	' <<<"$out" || { echo "$out" >&2; die "could not read nats bench's output"; }
}

disk_ceiling() { # bytes
	"$BIN/rawsync" -dir "$WORK" -bytes "$1" -write $((100 << 10)) -record-bytes $RECORD_BYTES
}

# median_of CMD ARGS...: runs CMD REPEAT times (with the run number as $RUN) and prints the run
# whose records_per_sec is the median.
median_of() {
	local runs=()
	for RUN in $(seq "$REPEAT"); do
		printf '   run %d/%d: %s\n' "$RUN" "$REPEAT" "$*" >&2
		runs+=("$("$@")")
	done
	printf '%s\n' "${runs[@]}" | jq -s -c 'sort_by(.records_per_sec) | .[(length - 1) / 2 | floor]'
}

# ---- the table -----------------------------------------------------------------------------
ROWS=()
row() { # workload, system, json, shoal json (for the ratio) or empty
	local ratio=-
	if [ -n "$4" ]; then
		ratio=$(jq -n --argjson s "$4" --argjson o "$3" '$s.records_per_sec / $o.records_per_sec * 100 | round / 100')
		ratio="${ratio}x"
	fi
	ROWS+=("$(jq -r -n --arg w "$1" --arg sys "$2" --arg ratio "$ratio" --argjson r "$3" \
		'[$w, $sys, ($r.records | tostring), ($r.records_per_sec | round | tostring),
		  ($r.mb_per_sec * 10 | round / 10 | tostring), ($r.p50_ms * 100 | round / 100 | tostring),
		  ($r.p99_ms * 100 | round / 100 | tostring), $ratio] | join("|")')")
}

print_table() {
	printf '%s\n' "workload|system|records|records/s|MB/s|p50 ms|p99 ms|Shoal/this" "${ROWS[@]}" |
		column -t -s '|'
}

goal() { # text, shoal json, other json, factor
	local got
	got=$(jq -n --argjson s "$2" --argjson o "$3" '$s.records_per_sec / $o.records_per_sec')
	if jq -e -n --argjson g "$got" --argjson f "$4" '$g >= $f' >/dev/null; then
		printf '  met     %s: %.2fx (goal %sx)\n' "$1" "$got" "$4"
	else
		printf '  MISSED  %s: %.2fx (goal %sx)\n' "$1" "$got" "$4"
	fi
}

main() {
	for p in ${SHOAL_ADDR##*:} ${SHOAL_HTTP##*:} $REDIS_PORT $NATS_PORT; do
		port_free "$p" || die "port $p on 127.0.0.1 is in use: stop what listens there first"
	done
	install_tools
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/shoal-compare.XXXXXX")
	log "records: produce $RECORDS per run (JetStream always: $NATS_ALWAYS_RECORDS), consume $CONSUME_RECORDS," \
		"$RECORD_BYTES-byte values, median of $REPEAT runs; work dir $WORK"
	local bytes=$((RECORDS * RECORD_BYTES))

	log "1. durable produce"
	local ceil1 ceil2 ceiling s1 r1 n1
	ceil1=$(median_of disk_ceiling $bytes)
	start_shoal always
	s1=$(median_of shoal_produce_run always)
	stop "$SERVER_PID"
	ceil2=$(median_of disk_ceiling $bytes)
	ceiling=$(jq -n -c --argjson a "$ceil1" --argjson b "$ceil2" --argjson size $RECORD_BYTES \
		'{records: ($a.bytes / $size), records_per_sec: (($a.records_per_sec + $b.records_per_sec) / 2),
		  mb_per_sec: (($a.mb_per_sec + $b.mb_per_sec) / 2), p50_ms: (($a.p50_ms + $b.p50_ms) / 2),
		  p99_ms: (($a.p99_ms + $b.p99_ms) / 2), before: $a.records_per_sec, after: $b.records_per_sec}')
	start_redis always
	r1=$(median_of redis_xadd_run always)
	stop "$SERVER_PID"
	start_nats always
	n1=$(median_of nats_pub "$NATS_ALWAYS_RECORDS")
	stop "$SERVER_PID"
	row "1 durable produce" "shoal --fsync always" "$s1" ""
	row "" "redis XADD appendfsync always" "$r1" "$s1"
	row "" "nats jetstream sync_interval always" "$n1" "$s1"
	row "" "disk: write+fdatasync 100 KiB" "$ceiling" "$s1"

	log "2. produce with periodic fsync"
	local s2 r2 n2
	start_shoal interval
	s2=$(median_of shoal_produce_run interval)
	stop "$SERVER_PID"
	start_redis everysec
	r2=$(median_of redis_xadd_run everysec)
	stop "$SERVER_PID"
	start_nats default
	n2=$(median_of nats_pub "$RECORDS")
	stop "$SERVER_PID"
	row "2 periodic fsync" "shoal --fsync interval" "$s2" ""
	row "" "redis XADD appendfsync everysec" "$r2" "$s2"
	row "" "nats jetstream default" "$n2" "$s2"

	log "3. catch-up consume of $CONSUME_RECORDS records (filling first)"
	local s3 r3 r3range
	start_shoal interval
	RECORDS=$CONSUME_RECORDS shoal_produce catchup >/dev/null
	s3=$(median_of shoal_consume catchup)
	stop "$SERVER_PID"
	start_redis no
	redis_xadd c "$CONSUME_RECORDS" >/dev/null
	r3=$(median_of redis_read c xread)
	r3range=$(median_of redis_read c xrange)
	stop "$SERVER_PID"
	row "3 catch-up consume" "shoal bench consume" "$s3" ""
	row "" "redis XREAD COUNT 100" "$r3" "$s3"
	row "" "redis XRANGE COUNT 100" "$r3range" "$s3"

	echo
	echo "Shoal $(git rev-parse --short HEAD 2>/dev/null || echo '?') vs Redis $(redis-server --version | grep -o 'v=[^ ]*' | cut -c3-)" \
		"and NATS $NATS_SERVER_VERSION, $RECORD_BYTES-byte records, median of $REPEAT runs" \
		"($(nproc) cores; shoal bench defaults${SHOAL_BENCH_ARGS:+ + $SHOAL_BENCH_ARGS})"
	print_table
	echo "latency as each tool reports it: shoal produce per record send->ack, shoal consume per poll;" \
		"redis per command (pipelined); nats per async publish; disk per write+fdatasync"
	echo
	printf 'disk ceiling before / after the durable Shoal run: %.0f / %.0f records/s\n' \
		"$(jq -n --argjson c "$ceiling" '$c.before')" "$(jq -n --argjson c "$ceiling" '$c.after')"
	echo "goals of the issue:"
	goal "produce, fsync always, vs Redis appendfsync always" "$s1" "$r1" 10
	goal "produce, fsync always, vs the disk's group-commit ceiling" "$s1" "$ceiling" 0.7
	goal "produce, fsync interval, vs Redis appendfsync everysec" "$s2" "$r2" 4
	goal "catch-up consume vs Redis XREAD COUNT 100" "$s3" "$r3" 2
}

# Each run writes to a topic or stream of its own.
shoal_produce_run() { shoal_produce "$1-$RUN"; }
redis_xadd_run() { redis_xadd "s-$1-$RUN" "$RECORDS"; }

main "$@"
