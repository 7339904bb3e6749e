#!/usr/bin/env python3
"""cpu_sampler.py MATCH OUT.json -- CMD...

Runs CMD (here: `bitbake -p`) and, every 0.25 s while it runs (and until no
matching process is left, max 30 s after CMD returns), samples /proc for all
processes whose command line contains the string MATCH (the scratch dir path:
this catches the bitbake client, the daemonised bitbake-server and its forked
parser processes, but no BitBake of other work trees), except this sampler and
its ancestors (runuser/env/bash, whose command lines contain MATCH too).
Use as `cpu_sampler.py MATCH OUT -- /usr/bin/time -v -o T bitbake -p`, so that
/usr/bin/time measures the bitbake client only.

Before starting CMD it waits (at most 15 min) until the whole machine was at
least 85 % idle over 5 s (/proc/stat), since the 2 vCPUs are shared with other jobs.

Writes OUT.json with: machine_busy_s / machine_avail_s (busy CPU seconds of
the whole machine, all users, from /proc/stat before and after CMD, against
n_cpus x wall), idle_wait_s, wall_s (elapsed of CMD), cpu_s (sum over the seen pids of
their last utime+stime), peak_total_rss_mib (largest per-sample VmRSS sum),
peak_process_mib (largest VmHWM of one process), n_pids, rc.
Our own helper; it only observes the real BitBake.
"""
import json, os, subprocess, sys, time

match, out = sys.argv[1], sys.argv[2]
cmd = sys.argv[sys.argv.index('--') + 1:]
tck = os.sysconf('SC_CLK_TCK')
cpu, hwm = {}, {}
peak_total = 0


def ancestors():
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(str(pid))
        with open('/proc/%d/stat' % pid) as f:
            pid = int(f.read().rsplit(')', 1)[1].split()[1])
    return pids


SKIP = ancestors()


def sample():
    global peak_total
    total, seen = 0, 0
    for pid in os.listdir('/proc'):
        if not pid.isdigit() or pid in SKIP:
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                if match.encode() not in f.read():
                    continue
            with open('/proc/%s/stat' % pid) as f:
                st = f.read().rsplit(')', 1)[1].split()
            with open('/proc/%s/status' % pid) as f:
                status = dict(l.split(':', 1) for l in f if ':' in l)
        except OSError:
            continue
        seen += 1
        # fields 14/15 (utime, stime) are index 11/12 after the ')' split
        cpu[pid] = (int(st[11]) + int(st[12])) / tck
        rss = int(status.get('VmRSS', '0 kB').split()[0])
        total += rss
        hwm[pid] = max(hwm.get(pid, 0), int(status.get('VmHWM', '0 kB').split()[0]))
    peak_total = max(peak_total, total)
    return seen


def cpustat():
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]          # idle + iowait
    return sum(v) / tck, idle / tck


tw = time.monotonic()
while time.monotonic() - tw < 900:
    a_tot, a_idle = cpustat()
    time.sleep(5)
    b_tot, b_idle = cpustat()
    if (b_idle - a_idle) / max(b_tot - a_tot, 1e-9) >= 0.85:
        break
idle_wait = time.monotonic() - tw
s_tot, s_idle = cpustat()
t0 = time.monotonic()
p = subprocess.Popen(cmd)
while p.poll() is None:
    sample()
    time.sleep(0.25)
wall = time.monotonic() - t0
e_tot, e_idle = cpustat()
deadline = time.monotonic() + 30
while sample() and time.monotonic() < deadline:
    time.sleep(0.25)
res = dict(wall_s=round(wall, 2), cpu_s=round(sum(cpu.values()), 2),
           peak_total_rss_mib=round(peak_total / 1024), peak_process_mib=round(max(hwm.values() or [0]) / 1024),
           n_pids=len(cpu), rc=p.returncode,
           machine_busy_s=round((e_tot - s_tot) - (e_idle - s_idle), 1),
           machine_avail_s=round(os.cpu_count() * wall, 1), idle_wait_s=round(idle_wait))
with open(out, 'w') as f:
    json.dump(res, f, indent=1)
print(json.dumps(res), file=sys.stderr)
sys.exit(p.returncode)
