"""perf/restart.py: the supervisor loop of perf/restart.sh (run by it, inside a private network
namespace with loopback up).

For each backend form: start handoff, let it settle (its media pool complete), then CYCLES times:
send SIGTERM, wait for the exit, start a new handoff at once (as systemd's Restart= or a deploy
script does), and time
  - stop -> serving: SIGTERM to the old process -> the new one's "serving" line;
  - stop -> answers: SIGTERM -> the first 200 to an OPTIONS the trunk "carrier" sends (sent
    every millisecond from the moment the old process exited);
  - TERM -> exit: of the old process;
  - exec -> serving: of the new one;
  - stop -> pool: SIGTERM -> the new process's media pool complete (every pair of the range
    open, "media pool complete" line), when it logs one.
Any line with "in use" in a process's log, or an exit other than 0, fails the run.
Prints one JSON object per cycle on stdout, then a summary per form.
"""

import json
import os
import queue
import select
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time


def now_ms():
    return time.monotonic_ns() / 1e6


class Handoff:
    def __init__(self, binary, config, env):
        self.t_exec = now_ms()
        self.proc = subprocess.Popen(
            [binary, "--config", config, "--log-level", "info"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.lines = queue.Queue()
        self.log = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stderr:
            self.lines.put((now_ms(), raw.decode(errors="replace").rstrip("\n")))
        self.lines.put((now_ms(), None))

    def wait_for(self, needle, timeout_ms=30000):
        """Time of the first line containing needle (None if the process ended first)."""
        for t, line in self.log:
            if line is not None and needle in line:
                return t
        deadline = now_ms() + timeout_ms
        while now_ms() < deadline:
            try:
                t, line = self.lines.get(timeout=0.05)
            except queue.Empty:
                continue
            self.log.append((t, line))
            if line is None:
                return None
            if needle in line:
                return t
        return None

    def drain(self):
        while True:
            try:
                self.log.append(self.lines.get_nowait())
            except queue.Empty:
                return

    def text(self):
        self.drain()
        return "\n".join(line for _, line in self.log if line is not None)


def options(sip, carrier, n):
    call_id = f"restart-{n}-{time.monotonic_ns()}"
    me = "127.0.0.1:%d" % carrier.getsockname()[1]
    return (
        f"OPTIONS sip:ping@{sip[0]}:{sip[1]} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {me};branch=z9hG4bK-{call_id}\r\n"
        f"From: <sip:+15551230000@{me}>;tag=r{n}\r\n"
        f"To: <sip:ping@{sip[0]}:{sip[1]}>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: 1 OPTIONS\r\n"
        f"Max-Forwards: 70\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


def first_answer(sip, carrier, proc, timeout_ms=30000):
    """Sends an OPTIONS every millisecond until one is answered 200; the time of the answer."""
    n = 0
    deadline = now_ms() + timeout_ms
    while now_ms() < deadline and proc.poll() is None:
        n += 1
        carrier.sendto(options(sip, carrier, n), sip)
        ready, _, _ = select.select([carrier], [], [], 0.001)
        while ready:
            data, _ = carrier.recvfrom(65536)
            t = now_ms()
            if data.startswith(b"SIP/2.0 200"):
                # Later answers to the earlier OPTIONS may still come: read them off.
                while select.select([carrier], [], [], 0.02)[0]:
                    carrier.recvfrom(65536)
                return t
            ready, _, _ = select.select([carrier], [], [], 0)
    return None


def pct(values, p):
    values = sorted(values)
    if not values:
        return None
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def main():
    binary, config, sip_host, sip_port, form, without, cycles = sys.argv[1:8]
    cycles = int(cycles)
    sip = (sip_host, int(sip_port))
    env = dict(os.environ)
    env["NO_COLOR"] = "1"
    if without:
        env["HANDOFF_URING_WITHOUT"] = without
    else:
        env.pop("HANDOFF_URING_WITHOUT", None)
    carrier = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    carrier.bind(("127.0.0.1", 5080))
    rows = []
    failures = []
    h = Handoff(binary, config, env)
    if h.wait_for("serving") is None:
        sys.exit(f"{form}: the first handoff did not serve:\n{h.text()}")
    for cycle in range(1, cycles + 1):
        # A long-running handoff has its whole pool: wait for it (a binary that opens every
        # port before serving has logged no such line; "serving" stands for it).
        if "media ports opened at start-up" not in h.text():
            if h.wait_for("media pool complete", timeout_ms=30000) is None:
                failures.append(f"cycle {cycle}: the pool never completed:\n{h.text()}")
        t_term = now_ms()
        h.proc.send_signal(signal.SIGTERM)
        status = h.proc.wait()
        t_exit = now_ms()
        old = h
        h = Handoff(binary, config, env)
        t_answer = first_answer(sip, carrier, h.proc)
        t_serving = h.wait_for("serving")
        old.wait_for("\x00never", timeout_ms=200)  # collect the old process's last lines
        if status != 0:
            failures.append(f"cycle {cycle}: exit {status}:\n{old.text()}")
        for proc_log in (old.text(),):
            if "in use" in proc_log:
                failures.append(f"cycle {cycle}: 'in use' in the old process's log:\n{proc_log}")
        if t_serving is None or t_answer is None:
            failures.append(f"cycle {cycle}: the new process did not serve:\n{h.text()}")
            break
        if "media ports opened at start-up" in h.text():
            t_pool = t_serving  # this binary opens its whole pool before it serves
        else:
            t_pool = h.wait_for("media pool complete", timeout_ms=30000)
        if "in use" in h.text():
            failures.append(f"cycle {cycle}: 'in use' in the new process's log:\n{h.text()}")
        row = {
            "form": form,
            "cycle": cycle,
            "stop_to_serving_ms": round(t_serving - t_term, 1),
            "stop_to_answer_ms": round(t_answer - t_term, 1),
            "term_to_exit_ms": round(t_exit - t_term, 1),
            "exec_to_serving_ms": round(t_serving - h.t_exec, 1),
            "stop_to_pool_ms": round(t_pool - t_term, 1) if t_pool is not None else None,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    h.proc.send_signal(signal.SIGTERM)
    h.proc.wait()
    summary = {"form": form, "cycles": len(rows), "failures": failures}
    for key in ("stop_to_serving_ms", "stop_to_answer_ms", "term_to_exit_ms",
                "exec_to_serving_ms", "stop_to_pool_ms"):
        values = [r[key] for r in rows if r[key] is not None]
        if values:
            summary[key] = {
                "p50": round(statistics.median(values), 1),
                "p90": round(pct(values, 90), 1),
                "max": round(max(values), 1),
            }
    print(json.dumps({"summary": summary}), flush=True)
    if failures:
        for f in failures:
            print(f, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
