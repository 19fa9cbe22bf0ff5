# shellcheck shell=bash
# Shared bash helpers for the test-server scripts (kafka.sh, prometheus.sh, alertmanager.sh):
# free loopback ports, pid files guarded against pid reuse, bounded waits, log tails.
# Sourced, never run. Every helper prints errors to stderr and returns non-zero on failure.

# Prints "<script>: MESSAGE" to stderr and exits 1.
ccp_die() {
  echo "${CCP_NAME:-${0##*/}}: $*" >&2
  exit 1
}

ccp_note() {
  echo "${CCP_NAME:-${0##*/}}: $*" >&2
}

# Creates DIR if needed and prints its absolute path (pid checks match on it).
ccp_abs_dir() {
  [[ -n "${1:-}" ]] || ccp_die "missing DIR argument"
  mkdir -p "$1" || ccp_die "cannot create directory $1"
  (cd "$1" && pwd -P)
}

# Fails with the Debian package to install for the first TOOL missing from PATH.
ccp_require() {
  local tool pkg
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 && continue
    case "$tool" in
      java) pkg=openjdk-17-jre-headless ;;
      mvn) pkg=maven ;;
      flock) pkg=util-linux ;;
      *) pkg="$tool" ;;
    esac
    ccp_die "'$tool' not found on PATH; install it with: apt-get install -y $pkg (see tests/support/README.md)"
  done
}

# Prints N distinct free TCP ports on 127.0.0.1, space-separated. All N sockets are bound at
# once so the ports differ; the kernel may hand a port to someone else between our close and
# the server's bind, so callers that can retry on "address in use" should.
ccp_free_ports() {
  local n="${1:-1}"
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$n" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
  else
    # perl-base is Essential on Debian, so this works on a bare machine without python3.
    perl -MIO::Socket::INET -e '
      my @s = map { IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
                                          Proto => "tcp", Listen => 1) or die "bind: $!\n" } 1..$ARGV[0];
      print join(" ", map { $_->sockport } @s), "\n";' "$n"
  fi
}

# True when PID exists and is not a zombie. A server outlives the script that started it and
# is reaped by whoever adopts it; if that adopter never reaps, the zombie still counts as gone.
ccp_alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local state
  state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)"
  [[ "$state" != Z ]]
}

# True when PID is a live process whose command line mentions a path under DIR (so a recycled
# pid that now belongs to something else is never signalled).
ccp_pid_matches() {
  local pid="$1" dir="$2"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  ccp_alive "$pid" || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir/"
}

# Prints the pid recorded in PIDFILE if that process is alive and belongs to DIR.
ccp_running_pid() {
  local pidfile="$1" dir="$2" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  ccp_pid_matches "$pid" "$dir" || return 1
  echo "$pid"
}

# Stops the process in PIDFILE: SIGTERM, up to TIMEOUT seconds, then SIGKILL. Idempotent:
# a missing pid file or a dead process is success. With TIMEOUT=0 it goes straight to SIGKILL.
ccp_stop_pidfile() {
  local pidfile="$1" dir="$2" timeout="$3" pid deadline
  if ! pid="$(ccp_running_pid "$pidfile" "$dir")"; then
    rm -f "$pidfile"
    return 0
  fi
  if ((timeout > 0)); then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + timeout))
    while ccp_alive "$pid" && ((SECONDS < deadline)); do
      sleep 0.1
    done
    if ccp_alive "$pid"; then
      ccp_note "pid $pid still alive ${timeout}s after SIGTERM, sending SIGKILL"
    fi
  fi
  # Re-check the match so a pid recycled after a clean exit is never killed.
  if ccp_pid_matches "$pid" "$dir"; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # The process is our child only in the shell that started it, so poll rather than wait.
  deadline=$((SECONDS + 10))
  while ccp_alive "$pid" && ((SECONDS < deadline)); do
    sleep 0.1
  done
  ccp_alive "$pid" && ccp_die "pid $pid survived SIGKILL"
  rm -f "$pidfile"
}

# Prints the last N (default 50) lines of LOG to stderr, framed, for failure reports.
ccp_log_tail() {
  local log="$1" n="${2:-50}"
  {
    echo "---- last $n lines of $log ----"
    tail -n "$n" "$log" 2>/dev/null || echo "(no log)"
    echo "---- end of $log ----"
  } >&2
}

# Waits until URL answers 2xx, failing early if PID exits. Returns 1 on timeout or death.
ccp_wait_http() {
  local url="$1" pid="$2" timeout="$3" deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    if ! ccp_alive "$pid"; then
      ccp_note "process $pid exited before $url answered"
      return 1
    fi
    if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  ccp_note "$url did not answer within ${timeout}s"
  return 1
}

# Launches CMD... in the background from DIR (log DIR/NAME.log, pid DIR/NAME.pid) and waits
# until http://127.0.0.1:PORT/-/ready answers. Returns 0 when ready, 3 when the port was
# taken first (caller may retry on another port), 1 on any other failure. No fd of the
# caller stays open in the server, so `url=$(x.sh start DIR ...)` returns once it is ready.
ccp_launch_http() {
  local dir="$1" name="$2" port="$3" timeout="$4" log="$1/$2.log" pid log_start
  shift 4
  log_start=$(($(stat -c %s "$log" 2>/dev/null || echo 0) + 1))
  echo "==== ${CCP_NAME:-server}: launching $name on 127.0.0.1:$port at $(date -Is) ====" >>"$log"
  (cd "$dir" && exec "$@") >>"$log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/$name.pid"
  # The second liveness check catches a server that lost the port race while another
  # process of the same kind answers on it.
  if ccp_wait_http "http://127.0.0.1:$port/-/ready" "$pid" "$timeout" && ccp_alive "$pid"; then
    return 0
  fi
  if ! ccp_alive "$pid"; then
    rm -f "$dir/$name.pid"
    tail -c "+$log_start" "$log" | grep -qi "address already in use" && return 3
    return 1
  fi
  ccp_stop_pidfile "$dir/$name.pid" "$dir" 5
  return 1
}
