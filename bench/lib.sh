# Shared by the bench/*.sh scripts (sourced, not run): installing Debian packages, and the
# processes and work dir a script starts, cleaned up when it exits.

# apt_install PACKAGE... installs the packages with apt-get (sudo when not root); no-op for none.
apt_install() {
	(($#)) || return 0
	log "installing $* from Debian's packages"
	local sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# WORK is the script's work dir (removed on exit unless KEEP is set); PIDS the processes it
# started (stopped on exit).
WORK=
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$WORK" ]; then
		if [ -z "${KEEP:-}" ]; then
			rm -rf "$WORK"
		else
			log "kept $WORK (data and logs)"
		fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop PID...: SIGTERM, wait, and forget them (cleanup no longer stops them).
stop() {
	local pid p keep
	for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
	for pid in "$@"; do
		wait "$pid" 2>/dev/null || true
		keep=()
		for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
		PIDS=("${keep[@]}")
	done
}
