# rpdev activity probe: runs on the pod, POSIX sh (+ the usual POSIX tools); no Python needed.
# Reads, never writes. Prints one "key value" line per fact and "end" last (docs/idle.md):
#   rpdev-probe 1          format version
#   now EPOCH              the pod's clock (for holds relative to a file's mtime)
#   ncpu N                 online CPUs;   cgquota QUOTA PERIOD   container CPU limit if any
#   cpusample UPTIME CGUSAGE_NS USER NICE SYSTEM IDLE IOWAIT IRQ SOFTIRQ STEAL
#                          counters; the daemon turns two of them into cpu_pct / cpu_cores
#   iosample UPTIME NET_RX NET_TX DISK
#                          byte counters: network in/out (every interface but lo, /proc/net/dev),
#                          block I/O read+written (the cgroup's io.stat, or blkio on cgroup v1);
#                          "-" where unreadable. The daemon turns two of them into rates.
#   gpu_fields F,F,...     then one "gpu CSV" line per GPU and "gpu_app CSV" per compute process
#   gpu_rc RC              nvidia-smi's exit status, or "absent" (no nvidia-smi: no GPU to watch)
#   ssh_conn N             established connections to sshd that are not the daemon's own
#   ssh_sess N             terminals (PTYs) served over those connections
#   ssh_pty INDEX ATIME    per such terminal (/dev/pts/INDEX): its last input time
#   ide N                  VS Code / Cursor / Windsurf server extension hosts (one per window)
#   hold_mtime EPOCH, hold TEXT    the hold file, when there is one
# Options: -w WORKSPACE (hold file WORKSPACE/.rpdev/hold), -p PORT[,PORT] (sshd's ports inside the
# pod, default 22), -x INODE[,INODE] (sockets of the daemon's other connections), -s SECONDS
# (take a second CPU sample that much later), -i (print this connection's sockets and exit).
LC_ALL=C
export LC_ALL
PATH="$PATH:/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/bin:/bin:/usr/sbin:/sbin"
ws=/workspace
ports=22
excl=
win=
ident=
while [ $# -gt 0 ]; do
  case "$1" in
    -w) ws=$2; shift 2 ;;
    -p) ports=$2; shift 2 ;;
    -x) excl=$2; shift 2 ;;
    -s) win=$2; shift 2 ;;
    -i) ident=1; shift ;;
    *) shift ;;
  esac
done

# The sockets of this very connection: every ancestor of this shell up to the sshd that serves
# the connection holds them. Those connections are the daemon's and never count as activity.
fds=
pid=$$
n=0
while [ "$pid" -gt 1 ] 2>/dev/null && [ $n -lt 12 ]; do
  fds="$fds /proc/$pid/fd"
  read -r line < /proc/$pid/stat 2>/dev/null || break
  set -- ${line##*) }
  pid=$2
  n=$((n + 1))
done
own=
[ -n "$fds" ] && own=$(ls -l $fds 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | tr '\n' ' ')
own=" $own"
if [ -n "$ident" ]; then
  echo "self$own"
  exit 0
fi

echo "rpdev-probe 1"
echo "now $(date +%s)"

ncpu=$(grep -c '^cpu[0-9]' /proc/stat 2>/dev/null)
echo "ncpu ${ncpu:-0}"
if [ -r /sys/fs/cgroup/cpu.max ]; then
  read -r q p < /sys/fs/cgroup/cpu.max && echo "cgquota $q $p"
elif [ -r /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
  q=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null)
  p=$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null)
  echo "cgquota ${q:-max} ${p:-100000}"
fi

cpusample() {
  # The container's own CPU time from its cgroup (in a pod, /proc/stat shows the whole host);
  # /proc/stat as well, for hosts without a readable cgroup.
  # This process's own cgroup first (a container without a cgroup namespace, or a pod that is a
  # cgroup of a larger machine), then the mount's root (a container with one).
  cg=-
  v2=$(sed -n 's/^0:://p' /proc/self/cgroup 2>/dev/null | head -n 1)
  v1=$(sed -n 's/^[0-9]*:[^:]*cpuacct[^:]*://p' /proc/self/cgroup 2>/dev/null | head -n 1)
  for f in "/sys/fs/cgroup${v2%/}/cpu.stat" /sys/fs/cgroup/cpu.stat; do
    [ -r "$f" ] || continue
    while read -r k v; do
      [ "$k" = usage_usec ] && cg=$((v * 1000)) && break
    done < "$f"
    break
  done
  if [ "$cg" = - ]; then
    for f in "/sys/fs/cgroup/cpuacct${v1%/}/cpuacct.usage" /sys/fs/cgroup/cpuacct/cpuacct.usage; do
      [ -r "$f" ] && read -r cg < "$f" && break
    done
  fi
  # A simulated pod (tests) without a cgroup of its own names its sshd in a file: its CPU time
  # is that of the sshd's process tree (exited children's included), never the machine's.
  if [ -n "${RPDEV_SIM_POD_PIDFILE:-}" ] && [ -r "$RPDEV_SIM_POD_PIDFILE" ]; then
    read -r root < "$RPDEV_SIM_POD_PIDFILE"
    hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
    cg=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="${root:-0}" -v hz="${hz:-100}" '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); pp[$1] = f[2]; t[$1] = f[12] + f[13] + f[14] + f[15] }
      END { for (p in t) { q = p; n = 0; while (q != root && (q in pp) && n < 64) { q = pp[q]; n++ } if (q == root) s2 += t[p] } printf "%.0f", s2 * 1000000000 / hz }')
  fi
  read -r up _ < /proc/uptime
  read -r _ u ni sy id io irq sirq st _ < /proc/stat
  echo "cpusample $up ${cg:--} $u $ni $sy $id ${io:-0} ${irq:-0} ${sirq:-0} ${st:-0}"
  # Data moved: the container's network namespace (all interfaces but lo) and its cgroup's
  # block I/O (v2 io.stat rbytes+wbytes, else v1 blkio Read+Write).
  nx=$(sed 's/:/ /' /proc/net/dev 2>/dev/null | awk 'NR > 2 && $1 != "lo" { r += $2; t += $10 }
    END { if (NR > 2) printf "%.0f %.0f", r, t }')
  dk=-
  for f in "/sys/fs/cgroup${v2%/}/io.stat" /sys/fs/cgroup/io.stat; do
    [ -r "$f" ] || continue
    dk=$(awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^[rw]bytes=/) { sub(/^[rw]bytes=/, "", $i); s += $i } }
      END { printf "%.0f", s }' "$f")
    break
  done
  if [ "$dk" = - ]; then
    b1=$(sed -n 's/^[0-9]*:[^:]*blkio[^:]*://p' /proc/self/cgroup 2>/dev/null | head -n 1)
    for f in "/sys/fs/cgroup/blkio${b1%/}/blkio.throttle.io_service_bytes_recursive" \
      "/sys/fs/cgroup/blkio${b1%/}/blkio.throttle.io_service_bytes" \
      /sys/fs/cgroup/blkio/blkio.throttle.io_service_bytes_recursive \
      /sys/fs/cgroup/blkio/blkio.throttle.io_service_bytes; do
      [ -r "$f" ] || continue
      dk=$(awk '$2 == "Read" || $2 == "Write" { s += $3 } END { printf "%.0f", s }' "$f")
      break
    done
  fi
  echo "iosample $up ${nx:-- -} ${dk:--}"
}
cpusample
if [ -n "$win" ]; then
  sleep "$win" 2>/dev/null || sleep 1
  cpusample
fi

tmo=
command -v timeout >/dev/null 2>&1 && tmo="timeout 15"
q=index,uuid,name,utilization.gpu,utilization.memory,memory.used,memory.total,power.draw,temperature.gpu
echo "gpu_fields $q"
if command -v nvidia-smi >/dev/null 2>&1; then
  out=$($tmo nvidia-smi --query-gpu=$q --format=csv,noheader,nounits 2>&1)
  rc=$?
  [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/gpu /'
  if [ $rc -eq 0 ]; then
    out=$($tmo nvidia-smi --query-compute-apps=pid,process_name,used_memory \
      --format=csv,noheader,nounits 2>/dev/null)
    [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/gpu_app /'
  fi
  echo "gpu_rc $rc"
else
  echo "gpu_rc absent"
fi

# Established connections to sshd (local port in $ports), minus the daemon's own sockets.
pat=
for p in $(echo "$ports" | tr ',' ' '); do
  case "$p" in *[!0-9]*|'') continue ;; esac
  pat="$pat|$(printf '%04X' "$p")"
done
pat=${pat#|}
skip=" $own $(echo "$excl" | tr ',' ' ') "
conns=
if [ -n "$pat" ]; then
  conns=$(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    grep -E "^ *[0-9]+: [0-9A-F]+:($pat) [0-9A-F]+:[0-9A-F]{4} 01 " |
    while read -r _ _ _ _ _ _ _ _ _ ino _; do
      case "$skip" in *" $ino "*) ;; *) echo "$ino" ;; esac
    done | sort -u)
fi
set -- $conns
echo "ssh_conn $#"

# Terminals: an sshd process that holds one of those connections holds /dev/ptmx (several fds)
# for each terminal it serves; fdinfo's tty-index names the terminal. Without tty-index (old
# kernels) a connection with terminals counts as one.
sess=0
if [ -n "$conns" ]; then
  list=" $(echo $conns) "
  res=$(for d in /proc/[0-9]*; do
    read -r comm < "$d/comm" 2>/dev/null || continue
    case "$comm" in sshd|sshd-session) ;; *) continue ;; esac
    mine=
    nptm=0
    ptys=
    for e in $(ls -l "$d/fd" 2>/dev/null | sed -n \
      -e 's/.* -> socket:\[\([0-9]*\)\]$/s:\1/p' \
      -e 's/.* \([0-9][0-9]*\) -> \/dev\/ptmx$/p:\1/p' \
      -e 's/.* \([0-9][0-9]*\) -> \/dev\/pts\/ptmx$/p:\1/p'); do
      case "$e" in
        s:*) case "$list" in *" ${e#s:} "*) mine=${e#s:} ;; esac ;;
        p:*)
          nptm=$((nptm + 1))
          ti=$(sed -n 's/^tty-index:[[:space:]]*//p' "$d/fdinfo/${e#p:}" 2>/dev/null)
          [ -n "$ti" ] && ptys="$ptys $ti" ;;
      esac
    done
    [ -n "$mine" ] && [ $nptm -gt 0 ] || continue
    [ -n "$ptys" ] || echo "S $mine -"
    for ti in $ptys; do
      echo "S $mine $ti"
      a=$(stat -c %X "/dev/pts/$ti" 2>/dev/null) && echo "ssh_pty $ti $a"
    done
  done)
  printf '%s\n' "$res" | grep '^ssh_pty ' | sort -u
  sess=$(printf '%s\n' "$res" | awk '$1 == "S" && $3 != "-" { t[$3] = 1; c[$2] = 1 }
    $1 == "S" && $3 == "-" { u[$2] = 1 }
    END { for (k in t) n++; for (k in u) if (!(k in c)) n++; print n + 0 }')
fi
echo "ssh_sess ${sess:-0}"

# IDE windows: each connected VS Code-like window runs one extension host on the server.
# ("extension[H]ost" keeps grep from matching its own command line.)
ide=0
for f in $(grep -l 'type=extension[H]ost' /proc/[0-9]*/cmdline 2>/dev/null); do
  grep -q -e 'vscode-server' -e 'cursor-server' -e 'windsurf-server' -e 'vscodium-server' \
    "$f" 2>/dev/null && ide=$((ide + 1))
done
echo "ide $ide"

hf="$ws/.rpdev/hold"
if [ -f "$hf" ] && [ -r "$hf" ]; then
  m=$(stat -c %Y "$hf" 2>/dev/null || date -r "$hf" +%s 2>/dev/null)
  echo "hold_mtime ${m:--}"
  echo "hold $(dd if="$hf" bs=256 count=1 2>/dev/null | head -n 1 | tr -d '\r')"
fi
echo end
