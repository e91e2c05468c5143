# rpdev pod-side guard: POSIX sh (+ the usual POSIX tools); no Python needed (docs/idle.md,
# "When your laptop sleeps"). The daemon installs it in WORKSPACE/.rpdev/guard/ (DIR below) with
# probe.sh and a config file, and refreshes DIR/beat on every probe. While the heartbeat is
# fresh the guard only sleeps; once it is older than guard_after it samples the pod with
# probe.sh, applies the idle rules with the daemon's values, warns every terminal on the pod
# warn_before ahead, and stops its own pod with the pod-scoped RUNPOD_API_KEY.
#   guard.sh start DIR       start detached, unless this version already runs
#   guard.sh run DIR         the loop itself (one per pod: a lock on DIR/lock)
#   guard.sh beat DIR IDLE_S the heartbeat; prints "guard running|absent LOGBYTES"
#   guard.sh remove DIR      stop the running guard and forget its config (the log stays)
#   guard.sh check DIR [1]   one sample and decision, printed, nothing done (benchmarks, tests);
#                            1: as when taking over from the daemon
# The log DIR/log has one line per decision: EPOCH<TAB>ACTION<TAB>IDLE_SINCE<TAB>STOP_AT<TAB>TEXT
# (ACTION: start, takeover, release, warn, cancel, unknown, stop, stopping, stop_failed, exit;
# a stop is logged before the call, and a stop_failed right after it says the call failed).
LC_ALL=C
export LC_ALL
PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
cmd=${1:-}
DIR=${2:-}
[ -n "$DIR" ] && [ -d "$DIR" ] || { echo "guard: no directory" >&2; exit 2; }
cd "$DIR" || exit 2

now() { date +%s; }

mtime() { stat -c %Y "$1" 2>/dev/null || date -r "$1" +%s 2>/dev/null; }

# One setting of DIR/config ("key value" lines written by the daemon).
cfg() { sed -n "s/^$1 //p" config 2>/dev/null | head -n 1; }

# A RunPod variable as the endpoint check reads it: this process's environment, then
# /etc/rp_environment, then PID 1's environment (a process started over a non-interactive SSH
# session has not got them in its own).
rp_var() {
  eval "v=\${$1-}"
  if [ -z "$v" ] && [ -r /etc/rp_environment ]; then
    v=$(sed -n "s/^[[:space:]]*\(export[[:space:]][[:space:]]*\)\{0,1\}$1=//p" /etc/rp_environment |
      tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'\$/\1/")
  fi
  if [ -z "$v" ] && [ -r /proc/1/environ ]; then
    v=$(tr '\000' '\n' < /proc/1/environ 2>/dev/null | sed -n "s/^$1=//p" | head -n 1)
  fi
  printf '%s' "$v"
}

log() {
  # log ACTION IDLE_SINCE STOP_AT TEXT
  if [ -f log ] && [ "$(wc -c < log)" -gt 262144 ]; then mv -f log log.1; fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$(now)" "$1" "${2:--}" "${3:--}" \
    "$(printf '%s' "$4" | tr '\t\r\n' '   ' | cut -c 1-400)" >> log
}

# The pid of the guard that runs now (DIR/pid, checked against /proc/PID/cmdline), or nothing.
running_pid() {
  [ -r pid ] || return 1
  read -r p v < pid 2>/dev/null || return 1
  case "$p" in ''|*[!0-9]*) return 1 ;; esac
  [ -r "/proc/$p/cmdline" ] || return 1
  tr '\000' ' ' < "/proc/$p/cmdline" | grep -q "guard.sh run" || return 1
  echo "$p ${v:-}"
}

case "$cmd" in
  beat)
    printf 'idle_s %s\n' "${3:--}" > beat.tmp && mv -f beat.tmp beat
    if running_pid >/dev/null; then s=running; else s=absent; fi
    echo "guard $s $(wc -c < log 2>/dev/null || echo 0)"
    exit 0 ;;
  remove)
    rm -f config
    r=$(running_pid) && kill "${r%% *}" 2>/dev/null
    n=0
    while running_pid >/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    running_pid >/dev/null && { echo "guard still running"; exit 1; }
    echo "guard removed"
    exit 0 ;;
  start)
    want=$(cfg version)
    if r=$(running_pid); then
      [ "${r#* }" = "$want" ] && { echo "guard running"; exit 0; }
      kill "${r%% *}" 2>/dev/null  # an older version: replaced
      n=0
      while running_pid >/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    fi
    if command -v setsid >/dev/null 2>&1; then
      nohup setsid sh "$DIR/guard.sh" run "$DIR" </dev/null >/dev/null 2>&1 &
    else
      nohup sh "$DIR/guard.sh" run "$DIR" </dev/null >/dev/null 2>&1 &
    fi
    n=0
    while ! running_pid >/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    if running_pid >/dev/null; then echo "guard started"; else echo "guard not started"; fi
    exit 0 ;;
  run|check) ;;
  *) echo "usage: guard.sh start|run|beat|remove|check DIR" >&2; exit 2 ;;
esac

# ---- the loop ----------------------------------------------------------------------------------
if [ "$cmd" = run ]; then
  # One guard per pod: flock where there is one, else the pid file checked against the process.
  if command -v flock >/dev/null 2>&1; then
    exec 9>> lock
    flock -n 9 || exit 0
  elif running_pid >/dev/null; then
    exit 0
  fi
  echo "$$ $(cfg version)" > pid.tmp && mv -f pid.tmp pid
  trap '[ -n "$sp" ] && kill "$sp" 2>/dev/null; exit 0' TERM INT HUP
fi
sp=

# Sleeps that a TERM cuts short, and that never hold the lock (fd 9) after the guard is gone.
nap() {
  sleep "$1" 9>&- &
  sp=$!
  wait "$sp"
  sp=
}

# Counters and history between two samples live in DIR/state (the volume), rewritten each check.
sample() {
  # $1: seconds of CPU window when there are no counters yet
  ws=$(cfg ws)
  ports=$(cfg ports)
  set -- -w "${ws:-/workspace}" -p "${ports:-22}"
  grep -q '^C ' state 2>/dev/null || set -- "$@" -s 1
  sh ./probe.sh "$@" 2>/dev/null 9>&-
}

# A hold file's date (2026-11-28T18:00Z): converted here, as awk cannot; empty when unreadable.
hold_date() {
  h=$(dd if="$(cfg ws)/.rpdev/hold" bs=256 count=1 2>/dev/null | head -n 1 | tr -d '\r')
  case "$h" in
    [0-9][0-9][0-9][0-9]-*) date -d "$h" +%s 2>/dev/null ;;
  esac
}

decide() {
  # Reads DIR/state and the probe's output; prints the new state and one "D ..." line.
  beat_m=$(mtime beat)
  beat_idle=$(sed -n 's/^idle_s //p' beat 2>/dev/null | head -n 1)
  cfg_m=$(mtime config)
  [ -f state ] || : > state
  awk -v now="$(now)" -v taking="$1" -v beat_m="${beat_m:-0}" -v beat_idle="${beat_idle:--}" \
    -v cfg_m="${cfg_m:-0}" -v hold_date="$(hold_date)" "$DECIDE" config state -
}

# The decision (the rules of rpdevd/activity/decide.py and signals.py, with the daemon's values).
DECIDE=$(cat <<'AWK'
function num(x) { return (x ~ /^[0-9]+(\.[0-9]+)?$/) }
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
function dur(s,    total, n, u) {
  # 2h, 90m, 1h30m, +2d, 45s: seconds, or -1
  sub(/^\+/, "", s); total = 0; if (s == "") return -1
  while (s != "") {
    if (!match(s, /^[0-9]+(\.[0-9]+)?[smhd]/)) return -1
    n = substr(s, 1, RLENGTH - 1); u = substr(s, RLENGTH, 1); s = substr(s, RLENGTH + 1)
    total += n * (u == "s" ? 1 : u == "m" ? 60 : u == "h" ? 3600 : 86400)
  }
  return total
}
function sustained(i, cur, th,    k, s, c) {
  if (cur == "" || cur < th) return 0
  s = cur; c = 1
  for (k = 1; k <= nh; k++) if (ht[k] > t - P["smoothing"] && ht[k] < t && hv[k, i] != "") { s += hv[k, i]; c++ }
  return s / c >= th
}
function fmt(x) { return x == "" ? "" : sprintf("%.0f", x) }
FILENAME == "config" { k = $1; $1 = ""; P[k] = trim($0); next }
FILENAME == "state" {
  if ($1 == "S") S[$2] = $3
  else if ($1 == "C") { pc_up = $2; pc_cg = $3; pc_busy = $4; pc_total = $5 }
  else if ($1 == "I") { pi_up = $2; pi_rx = $3; pi_tx = $4; pi_dk = $5 }
  else if ($1 == "H") { nh++; ht[nh] = $2; for (k = 1; k <= 5; k++) hv[nh, k] = ($(k + 2) == "-" ? "" : $(k + 2)) }
  next
}
{
  key = $1; val = $0; sub(/^[^ ]* ?/, "", val)
  if (key == "now") pnow = val
  else if (key == "ncpu") ncpu = val
  else if (key == "cgquota") quota = val
  else if (key == "cpusample") { ncs++; cs[ncs] = val }
  else if (key == "iosample") { nio++; io[nio] = val }
  else if (key == "gpu_fields") { nf = split(val, gf, ","); for (k = 1; k <= nf; k++) if (gf[k] == "utilization.gpu") ucol = k }
  else if (key == "gpu") { if (ngl == 0) gfirst = val; ngl++; split(val, g, ","); u = trim(g[ucol]); if (num(u) && (gmax == "" || u + 0 > gmax)) gmax = u + 0 }
  else if (key == "gpu_rc") gpu_rc = val
  else if (key == "ssh_pty") { split(val, pp, " "); terms = terms " " pp[1]; if (pmax == "" || pp[2] > pmax) pmax = pp[2] }
  else if (key == "hold_mtime") hold_m = val
  else if (key == "hold") { hold_seen = 1; hold_txt = trim(val) }
  else if (key == "end") ended = 1
}
END {
  t = num(pnow) ? pnow + 0 : now + 0
  if (!ended) { print "D unknown unknown - - the probe did not finish"; exit }
  # CPU and data rates against the previous counters (or the first of two samples).
  split(cs[ncs], c2, " ")
  if (pc_up == "" && ncs > 1) { split(cs[1], c1, " "); pc_up = c1[1]; pc_cg = c1[2]; pc_busy = c1[3] + c1[4] + c1[5] + c1[8] + c1[9]; pc_total = pc_busy + c1[6] + c1[7] + c1[10] }
  busy = c2[3] + c2[4] + c2[5] + c2[8] + c2[9]; total = busy + c2[6] + c2[7] + c2[10]
  cpu = ""; cores = ""
  wall = c2[1] - pc_up
  if (pc_up != "" && wall > 0) {
    cap = ncpu + 0
    split(quota, qq, " "); if (num(qq[1]) && num(qq[2]) && qq[2] > 0) { lim = qq[1] / qq[2]; if (cap == 0 || lim < cap) cap = lim }
    if (num(pc_cg) && num(c2[2]) && c2[2] >= pc_cg) {
      cores = (c2[2] - pc_cg) / 1e9 / wall
      if (cap > 0) { cpu = 100 * cores / cap; if (cpu > 100) cpu = 100 }
    } else if (total > pc_total && busy >= pc_busy) {
      cpu = 100 * (busy - pc_busy) / (total - pc_total); if (cpu > 100) cpu = 100
      if (ncpu > 0) cores = cpu / 100 * ncpu
    }
  }
  split(io[nio], i2, " ")
  if (pi_up == "" && nio > 1) { split(io[1], i1, " "); pi_up = i1[1]; pi_rx = i1[2]; pi_tx = i1[3]; pi_dk = i1[4] }
  net = ""; dk = ""; iw = i2[1] - pi_up
  if (pi_up != "" && iw > 0) {
    if (num(pi_rx) && num(i2[2]) && i2[2] >= pi_rx) net = (i2[2] - pi_rx) / iw
    if (num(pi_tx) && num(i2[3]) && i2[3] >= pi_tx) net = (net == "" ? 0 : net) + (i2[3] - pi_tx) / iw
    if (num(pi_dk) && num(i2[4]) && i2[4] >= pi_dk) dk = (i2[4] - pi_dk) / iw
  }
  print "C", c2[1], c2[2], busy, total
  print "I", i2[1], i2[2], i2[3], i2[4]
  for (k = 1; k <= nh; k++) if (ht[k] > t - P["smoothing"]) {
    line = "H " ht[k]; for (j = 1; j <= 5; j++) line = line " " (hv[k, j] == "" ? "-" : hv[k, j]); print line
  }
  lv[1] = gmax; lv[2] = cpu; lv[3] = cores; lv[4] = net; lv[5] = dk
  line = "H " t; for (j = 1; j <= 5; j++) line = line " " (lv[j] == "" ? "-" : lv[j]); print line
  print "T" terms

  last_t = S["last_t"]; idle_s = S["idle_s"] + 0; prev_idle = S["prev_idle"] + 0
  warned_at = S["warned_at"]; warned_stop = S["warned_stop"]; idle_since = S["idle_since"]
  dt = (last_t == "") ? -1 : t - last_t
  if (taking) {
    # Taking over from the daemon: its idle time as of its last heartbeat counts, and the
    # silence since then too when short enough not to be a gap (both ends idle, as in decide.py).
    idle_s = (beat_idle == "-") ? 0 : beat_idle + 0; prev_idle = (beat_idle != "-"); dt = t - beat_m; last_t = beat_m
    warned_at = ""; warned_stop = ""
    idle_since = prev_idle ? beat_m - idle_s : ""
  }
  gap = dt > P["max_gap"] + 0
  if (gap) { prev_idle = 0; warned_at = ""; warned_stop = "" }
  th_gpu = P["gpu_util"] + 0; th_cpu = P["cpu_pct"] + 0; th_cores = P["cpu_cores"] + 0
  th_net = P["net_bps"] + 0; th_disk = P["disk_bps"] + 0
  quiet = !((gmax != "" && gmax >= th_gpu) || (cpu != "" && cpu >= th_cpu) || (cores != "" && cores >= th_cores) || (net != "" && net >= th_net) || (dk != "" && dk >= th_disk))
  known = 1; active = 0
  if (gpu_rc != "0" && gpu_rc != "absent") { known = 0; why = "nvidia-smi failed (" (gpu_rc == "" ? "no answer" : "status " gpu_rc) (gfirst == "" ? "" : ": " gfirst) ")" }
  else if (sustained(1, gmax, th_gpu)) { active = 1; why = sprintf("GPU busy at %.0f%% (busiest GPU)", gmax) }
  else if (sustained(2, cpu, th_cpu)) { active = 1; why = sprintf("CPU busy at %.0f%%", cpu) }
  else if (sustained(3, cores, th_cores)) { active = 1; why = sprintf("CPU busy: %.1f cores", cores) }
  else if (net != "" && sustained(4, net, th_net)) { active = 1; why = sprintf("moving data: %.1f MB/s over the network", net / 1e6) }
  else if (dk != "" && sustained(5, dk, th_disk)) { active = 1; why = sprintf("moving data: %.1f MB/s of disk I/O", dk / 1e6) }
  else if (pmax != "" && t - pmax < (dt > 0 ? dt : 60) + 8) { active = 1; why = sprintf("typing in an SSH terminal %.0fs ago", t - pmax) }
  else if (cpu == "" && gmax == "") { known = 0; why = "the guard read neither GPU nor CPU load" }
  # The hold: the pod's hold file, or one set with rpdev hold (handed over in the config).
  hold = ""
  if (hold_seen) {
    if (hold_txt == "" || tolower(hold_txt) == "forever") hold = "forever"
    else if (hold_txt ~ /^[0-9]+(\.[0-9]+)?$/ && length(hold_txt) >= 9) hold = hold_txt + 0
    else if (hold_date != "") hold = hold_date + 0
    else if ((d = dur(hold_txt)) >= 0 && num(hold_m)) hold = hold_m + d
  }
  if (P["hold"] == "forever") hold = "forever"
  else if (num(P["hold_left"]) && hold != "forever") { h2 = cfg_m + P["hold_left"]; if (hold == "" || h2 > hold) hold = h2 }
  if (hold != "forever" && hold != "" && hold <= t) hold = ""
  action = "keep"; signal = "idle"; stop_at = ""
  if (!known) {
    prev_idle = 0; action = (warned_at != "") ? "cancel" : (S["unknown"] ? "keep" : "unknown")
    warned_at = ""; warned_stop = ""; signal = "unknown"; S["unknown"] = 1
    why = "activity unknown: " why "; not stopping"
  } else if (active) {
    S["unknown"] = 0; action = (warned_at != "") ? "cancel" : "keep"; signal = "active"
    idle_s = 0; prev_idle = 0; warned_at = ""; warned_stop = ""; idle_since = ""; S["stopped"] = 0
  } else {
    S["unknown"] = 0
    if (prev_idle && dt > 0 && !gap) idle_s += dt
    if (!prev_idle || idle_since == "") idle_since = t - idle_s
    prev_idle = 1
    why = sprintf("GPU %s, CPU %s", gmax == "" ? "none" : sprintf("%.0f%%", gmax), cpu == "" ? "unknown" : sprintf("%.0f%%", cpu))
    if (net != "") why = why sprintf(", network %.1f kB/s", net / 1e3)
    if (S["stopped"]) { why = "stop already requested" }
    else if (hold == "forever") {
      action = (warned_at != "") ? "cancel" : "keep"; signal = "hold"; why = "held until the hold file is removed"
      warned_at = ""; warned_stop = ""
    } else {
      deadline = t + P["idle_timeout"] - idle_s; stop_at = deadline < t ? t : deadline
      if (hold != "" && hold > stop_at) { stop_at = hold; deadline = hold; signal = "hold" }
      if (warned_at != "") {
        if (deadline > warned_stop + P["slack"]) { action = "cancel"; signal = "hold"; why = "held longer"; warned_at = ""; warned_stop = "" }
        else if (t >= warned_stop && quiet) { action = "stop"; S["stopped"] = 1; why = sprintf("idle for %.0fs: %s", idle_s, why); warned_at = ""; warned_stop = "" }
        else stop_at = warned_stop
      } else if (t >= stop_at - P["warn_before"] - P["slack"]) {
        action = "warn"; warned_at = t; warned_stop = stop_at > t + P["warn_before"] ? stop_at : t + P["warn_before"]
        stop_at = warned_stop
        why = sprintf("idle for %.0fs (%s)", idle_s, why)
      }
    }
  }
  print "S last_t " t; print "S idle_s " idle_s; print "S prev_idle " prev_idle
  print "S unknown " (S["unknown"] ? 1 : 0); print "S stopped " (S["stopped"] ? 1 : 0)
  if (warned_at != "") { print "S warned_at " warned_at; print "S warned_stop " warned_stop }
  if (idle_since != "") print "S idle_since " fmt(idle_since)
  printf "D %s %s %s %s %s\n", action, signal, (idle_since == "" ? "-" : fmt(idle_since)), (stop_at == "" ? "-" : fmt(stop_at)), why
}
AWK
)

warn_terminals() {
  # Every terminal on the pod (a container has /dev/pts of its own). On a simulated pod, which
  # shares this machine's /dev/pts, only the terminals of its own SSH sessions.
  if [ -n "${RPDEV_SIM_POD_PIDFILE:-}" ]; then list=$1; else
    list=$(ls /dev/pts 2>/dev/null | grep '^[0-9][0-9]*$')
  fi
  tmo=
  command -v timeout >/dev/null 2>&1 && tmo="timeout 3"
  for n in $list; do
    [ -c "/dev/pts/$n" ] || continue
    $tmo sh -c 'printf "\r\n%s\r\n" "$1" > "/dev/pts/$2"' sh "$2" "$n" 2>/dev/null
  done
}

stop_pod() {
  id=$(rp_var RUNPOD_POD_ID)
  key=$(rp_var RUNPOD_API_KEY)
  case "$id" in ''|*[!a-z0-9]*) echo "no valid RUNPOD_POD_ID on the pod"; return 1 ;; esac
  [ -n "$key" ] || { echo "no RUNPOD_API_KEY on the pod"; return 1; }
  if command -v runpodctl >/dev/null 2>&1; then
    out=$(RUNPOD_API_KEY=$key runpodctl stop pod "$id" 2>&1) && { echo "runpodctl: $out"; return 0; }
    echo "runpodctl failed: $out"
    return 1
  fi
  api=$(cfg api_url)
  body="{\"query\": \"mutation { podStop(input: {podId: \\\"$id\\\"}) { id desiredStatus } }\"}"
  if command -v curl >/dev/null 2>&1; then
    # The key goes to curl on its stdin, never in its arguments.
    out=$(printf 'header = "Authorization: Bearer %s"\n' "$key" | curl -sS -m 30 -K - \
      -H 'Content-Type: application/json' --data "$body" "${api:-https://api.runpod.io}/graphql" 2>&1)
  elif command -v wget >/dev/null 2>&1; then
    out=$(wget -q -O - -T 30 --header "Authorization: Bearer $key" \
      --header 'Content-Type: application/json' --post-data "$body" \
      "${api:-https://api.runpod.io}/graphql" 2>&1)
  else
    echo "neither runpodctl, curl nor wget on the pod"
    return 1
  fi
  case "$out" in *'"errors"'*|'') echo "podStop failed: $(printf '%s' "$out" | cut -c 1-200)"; return 1 ;; esac
  echo "podStop: $(printf '%s' "$out" | cut -c 1-200)"
}

hint() {
  echo "To keep it: touch $(cfg ws)/.rpdev/hold (or write e.g. 2h into it)"
}

check() {
  # One sample and decision. $1: 1 when taking over from the daemon.
  out=$(sample)
  res=$(printf '%s\n' "$out" | decide "$1")
  printf '%s\n' "$res" | grep -v '^[DT]' > state.tmp && mv -f state.tmp state
  terms=$(printf '%s\n' "$res" | sed -n 's/^T//p')
  set -f
  set -- $(printf '%s\n' "$res" | sed -n 's/^D //p')
  set +f
  action=${1:-unknown}; signal=${2:-unknown}; since=${3:--}; stop_at=${4:--}
  shift 4 2>/dev/null
  why="$*"
}

if [ "$cmd" = check ]; then
  [ -f config ] || { echo "guard: no config" >&2; exit 2; }
  check "${3:-0}"
  echo "$action $signal $since $stop_at $why"
  exit 0
fi

log start - - "guard started (pid $$)"
in_charge=0
stop_tries=0
while :; do
  [ -f config ] || { log exit - - "no config: the guard is off for this pod"; exit 0; }
  every=$(cfg interval); every=${every:-60}
  after=$(cfg guard_after); after=${after:-600}
  b=$(mtime beat)
  age=$(( $(now) - ${b:-0} ))
  if [ "$age" -le "${after%.*}" ]; then
    if [ $in_charge = 1 ]; then
      log release - - "rpdev's heartbeat is fresh again: the daemon decides"
      [ "$action" = warn ] && warn_terminals "$terms" \
        "rpdev guard: the stop announced for this pod is off (rpdev on your machine is back)."
      in_charge=0
      action=
    fi
    nap "$every"
    continue
  fi
  taking=0
  if [ $in_charge = 0 ]; then
    in_charge=1
    taking=1
    stop_tries=0
    : > state  # counters and history from an earlier stretch in charge are stale
    log takeover - - "rpdev's heartbeat is ${age}s old (guard_after ${after}s): the guard decides"
  fi
  check $taking
  case "$action" in
    warn)
      log warn "$since" "$stop_at" "$why"
      at=$(date -d "@$stop_at" +%H:%M 2>/dev/null || echo "in a few minutes")
      warn_terminals "$terms" "rpdev guard: this pod is idle ($why) and will be STOPPED at $at (pod time). $(hint)" ;;
    cancel) log cancel "$since" - "$why" ;;
    unknown) log unknown - - "$why" ;;
    stop)
      b=$(mtime beat)
      if [ $(( $(now) - ${b:-0} )) -le "${after%.*}" ]; then continue; fi  # rpdev is back
      # Logged first: the stop may end this very process before the call returns.
      log stop "$since" "$(now)" "stopped by its guard: $why"
      warn_terminals "$terms" "rpdev guard: stopping this pod now ($why)."
      if res=$(stop_pod); then
        log stopping - - "$res"
        nap 600
        exit 0
      fi
      stop_tries=$((stop_tries + 1))
      log stop_failed "$since" - "$res"
      # Try again at the next check, then less often.
      [ $stop_tries -gt 3 ] && nap 300
      { grep -v -e '^S warned_' -e '^S stopped' state
        printf 'S warned_at %s\nS warned_stop %s\n' "$(now)" "$(now)"; } \
        > state.tmp && mv -f state.tmp state ;;
  esac
  nap "$every"
done
