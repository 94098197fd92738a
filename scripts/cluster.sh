#!/usr/bin/env bash
# A three-node Shoal cluster on 127.0.0.1 for trying things out: `make cluster`.
#   node  broker          http            gossip
#   n1    127.0.0.1:7170  127.0.0.1:7171  127.0.0.1:7172
#   n2    127.0.0.1:7270  127.0.0.1:7271  127.0.0.1:7272
#   n3    127.0.0.1:7370  127.0.0.1:7371  127.0.0.1:7372
# (make run's single node uses 7070/7071, so both can run at once.) Data is in data/cluster/nX,
# each node's log in data/cluster/nX.log. n1 is started with no --join: it makes the cluster on
# its first start (every node keeps the cluster id in its data dir); n2 and n3 join the others,
# and re-join n1 when it restarts.
# Gossip profile local: a killed node is declared dead in about a second.
# The script stays in the foreground: it reports a node that exits (with the line that restarts
# it), and Ctrl-C stops all three. `rm -rf data/cluster` starts over.
# Usage: scripts/cluster.sh [path to the shoal binary, default bin/shoal]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-bin/shoal}
data=data/cluster
nodes=(n1 n2 n3)
ready_timeout_s=30

broker_addr() { echo "127.0.0.1:7${1#n}70"; }
http_port() { echo "7${1#n}71"; }
gossip_addr() { echo "127.0.0.1:7${1#n}72"; }
brokers=$(broker_addr n1),$(broker_addr n2),$(broker_addr n3)
seeds=$(gossip_addr n1),$(gossip_addr n2),$(gossip_addr n3)

# serve_args NODE: the `shoal serve` arguments of a node. n1 has no seeds; n2 and n3 join the
# three (a node skips its own address).
serve_args() {
	local node=$1 args
	args=(serve --node-id "$node" --data-dir "$data/$node" --broker-addr "$(broker_addr "$node")"
		--http-addr "127.0.0.1:$(http_port "$node")" --gossip-addr "$(gossip_addr "$node")"
		--gossip-profile local --fsync always)
	if [[ $node != n1 ]]; then
		args+=(--join "$seeds")
	fi
	echo "${args[@]}"
}

declare -A pid_of node_of
start_node() {
	local node=$1
	# shellcheck disable=SC2046 # serve_args prints words without spaces inside them
	"$bin" $(serve_args "$node") >>"$data/$node.log" 2>&1 &
	pid_of[$node]=$!
	node_of[$!]=$node
}

# ready NODE: its /readyz answers 200 (the node has joined and its partitions are open).
ready() {
	local status
	status=$(
		exec 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$(http_port "$1")" || exit 1
		printf 'GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
		head -n 1 <&3
	) || return 1
	[[ $status == "HTTP/1."?" 200"* ]]
}

alive() { kill -0 "$1" 2>/dev/null; }

# listening PORT: something accepts TCP connections on 127.0.0.1:PORT.
listening() { (exec 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$1"); }

# stop_all [CODE]: SIGTERM to every node, wait for them, exit CODE (0).
stop_all() {
	trap - INT TERM
	echo
	echo "stopping n1 n2 n3"
	local pid
	for pid in "${pid_of[@]}"; do
		alive "$pid" && kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pid_of[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	echo "stopped (data kept in $data; rm -rf $data starts over)"
	exit "${1:-0}"
}

[[ -x $bin ]] || { echo "cluster.sh: $bin is not an executable: run make cluster, or go build -o bin/shoal ./cmd/shoal" >&2; exit 1; }
for node in "${nodes[@]}"; do
	for addr in "$(broker_addr "$node")" "127.0.0.1:$(http_port "$node")" "$(gossip_addr "$node")"; do
		if listening "${addr#*:}"; then
			echo "cluster.sh: $addr ($node) is in use: is another make cluster running? Stop it first." >&2
			exit 1
		fi
	done
done
mkdir -p "$data"
trap 'stop_all 0' INT TERM
for node in "${nodes[@]}"; do
	start_node "$node"
done

# Wait (with a deadline) until all three are ready; a node that exits meanwhile stops the rest.
deadline=$((SECONDS + ready_timeout_s))
for node in "${nodes[@]}"; do
	until ready "$node"; do
		if ! alive "${pid_of[$node]}"; then
			echo "cluster.sh: $node exited while starting; the end of $data/$node.log:" >&2
			tail -n 5 "$data/$node.log" >&2
			stop_all 1
		fi
		if ((SECONDS > deadline)); then
			echo "cluster.sh: $node is not ready after ${ready_timeout_s}s; see $data/$node.log" >&2
			stop_all 1
		fi
		sleep 0.1 # polling a condition with a deadline
	done
done
for node in "${nodes[@]}"; do
	if ! alive "${pid_of[$node]}"; then
		echo "cluster.sh: $node exited while starting; the end of $data/$node.log:" >&2
		tail -n 5 "$data/$node.log" >&2
		stop_all 1
	fi
done

cluster_id=$(cat "$data/n1/cluster.id" 2>/dev/null || echo "?")
echo "shoal: three nodes on 127.0.0.1, cluster $cluster_id (data and logs in $data)"
for node in "${nodes[@]}"; do
	printf '  %s  pid %-7s  broker %s  http http://127.0.0.1:%s/  gossip %s\n' \
		"$node" "${pid_of[$node]}" "$(broker_addr "$node")" "$(http_port "$node")" "$(gossip_addr "$node")"
done
cat <<EOF
try it from another shell:
  $bin cluster status --brokers $brokers
  $bin topic create orders --partitions 6 --replication 3 --brokers $brokers
  seq 1000 | $bin produce --topic orders --brokers $brokers
  $bin consume --topic orders --from earliest --exit-at-end --brokers $brokers
  $bin topic describe orders --brokers $brokers
kill a node (kill ${pid_of[n2]} stops n2) and watch the cluster heal with cluster status;
this script then prints the line that restarts it. Logs: tail -f $data/n*.log
stop all three with Ctrl-C
EOF

# Report each node that exits; keep the others running until Ctrl-C or until none is left.
live=("${pid_of[@]}")
while ((${#live[@]} > 0)); do
	status=0
	wait -n -p exited "${live[@]}" || status=$?
	[[ -n ${exited:-} ]] || continue
	node=${node_of[$exited]}
	echo "$node (pid $exited) exited with status $status; restart it in another shell with:"
	echo "  $bin $(serve_args "$node")"
	live=()
	for pid in "${pid_of[@]}"; do
		[[ $pid != "$exited" ]] && alive "$pid" && live+=("$pid")
	done
	unset exited
done
echo "all three nodes have exited"
