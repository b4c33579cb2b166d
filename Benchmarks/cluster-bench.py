#!/usr/bin/env python3
"""Invocations per second and CPU per invocation: one node on SQLite against one and three nodes on
PostgreSQL (docs/cluster.md), side by side, in one run on this machine.

Starts a throw-away PostgreSQL server (Debian's binaries, as the `postgres` user under root) on
127.0.0.1, then for each configuration real `tabula serve` processes (the release build), deploys
examples/echo.wat and drives warm blocking invocations (`?blocking=true&result=true`) over keep-alive
HTTP connections from client threads, spread evenly over the nodes. It reports, per configuration:

- invocations per second over the measured window (after a warm-up);
- CPU per invocation of the tabula processes, and of the PostgreSQL server (from /proc/PID/stat);
- store transactions per invocation (PostgreSQL's pg_stat_database: each statement a node sends
  outside a transaction is one transaction and one network round trip): the hot path's cost in
  round trips to the store.

    swift build -c release --product tabula
    python3 Benchmarks/cluster-bench.py [--tabula .build/release/tabula] [--duration 10] [--clients 8] [--json]

The load generator (Python threads) shares the machine's cores with the nodes: the figures compare
configurations with each other, they are not the platform's ceiling (`tabula bench` measures that
in one process).
"""

import argparse
import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(command):
    if os.getuid() == 0:
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] + command
    return command


def postgres_bin():
    root = "/usr/lib/postgresql"
    for version in sorted(os.listdir(root), key=lambda v: int(v) if v.isdigit() else 0, reverse=True):
        candidate = os.path.join(root, version, "bin")
        if os.path.exists(os.path.join(candidate, "postgres")):
            return candidate
    sys.exit("PostgreSQL is not installed (apt-get install postgresql)")


class Postgres:
    """A throw-away server; synchronous commits with fsync on, as a real store runs."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tabula-bench-pg-")
        os.chmod(self.dir, 0o755)
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        data = os.path.join(self.dir, "data")
        binary = postgres_bin()
        subprocess.run(as_postgres([f"{binary}/initdb", "-D", data, "-U", "tabula", "-A", "trust", "-E", "UTF8", "--locale=C"]),
                       check=True, stdout=subprocess.DEVNULL)
        self.port = free_port()
        log = open(os.path.join(self.dir, "server.log"), "w")
        self.process = subprocess.Popen(as_postgres([
            f"{binary}/postgres", "-D", data, "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={self.dir}", "-c", "max_connections=200"]), stdout=log, stderr=log)
        for _ in range(300):
            if self.sql("postgres", "SELECT 1") is not None:
                return
            time.sleep(0.1)
        self.stop()
        sys.exit("PostgreSQL did not start")

    def sql(self, database, statement):
        result = subprocess.run(["psql", "-X", "-q", "-t", "-A", "-h", "127.0.0.1", "-p", str(self.port), "-U", "tabula", "-d", database, "-c", statement],
                                capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else None

    def database(self, name):
        self.sql("postgres", f"CREATE DATABASE {name}")
        return f"postgres://tabula@127.0.0.1:{self.port}/{name}?sslmode=disable"

    def transactions(self, name):
        return int(self.sql("postgres", f"SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '{name}'") or 0)

    def pids(self):
        out = subprocess.run(["pgrep", "-f", f"postgres.*{self.dir}|postgres: "], capture_output=True, text=True).stdout.split()
        return [int(p) for p in out]

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Node:
    def __init__(self, tabula, store):
        self.dir = tempfile.mkdtemp(prefix="tabula-bench-node-")
        arguments = [tabula, "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", self.dir, "--isolation", "process"]
        if store:
            arguments += ["--store", store]
        self.process = subprocess.Popen(arguments, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        deadline = time.time() + 120
        self.port = None
        while time.time() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            if "listening on http://127.0.0.1:" in line:
                self.port = int(line.split("listening on http://127.0.0.1:")[1].split()[0])
                break
        if self.port is None:
            self.stop()
            sys.exit("tabula serve did not start")
        # Keep draining stdout so the node never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.process.stdout], daemon=True).start()

    def auth(self):
        path = os.path.join(self.dir, "auth")
        return open(path).read().strip() if os.path.exists(path) else None

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total / TICKS


def request(connection, method, path, auth, body=b""):
    connection.request(method, path, body=body, headers={
        "Authorization": "Basic " + base64.b64encode(auth.encode()).decode(), "Content-Type": "application/json"})
    response = connection.getresponse()
    data = response.read()
    return response.status, data


def measure(name, tabula, count, store, postgres, database, duration, clients):
    nodes = [Node(tabula, store) for _ in range(count)]
    try:
        auth = next(a for a in (n.auth() for n in nodes) if a)
        module = open(os.path.join(REPO, "examples", "echo.wat")).read()
        connection = http.client.HTTPConnection("127.0.0.1", nodes[0].port, timeout=60)
        status, body = request(connection, "PUT", "/api/v1/namespaces/_/actions/echo?overwrite=true", auth,
                               json.dumps({"exec": {"kind": "wasm", "code": module, "binary": False}}).encode())
        if status != 200:
            sys.exit(f"deploy failed: {status} {body[:200]}")
        stop_at = [0.0]
        start_at = [0.0]
        counts = [0] * clients
        errors = [0] * clients

        def client(index):
            node = nodes[index % len(nodes)]
            conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=60)
            while True:
                now = time.time()
                if now >= stop_at[0]:
                    return
                try:
                    status, _ = request(conn, "POST", "/api/v1/namespaces/_/actions/echo?blocking=true&result=true", auth, b'{"n":1}')
                except (OSError, http.client.HTTPException):
                    errors[index] += 1
                    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=60)
                    continue
                if now >= start_at[0]:
                    if status == 200:
                        counts[index] += 1
                    else:
                        errors[index] += 1

        warmup = 2.0
        start_at[0] = time.time() + warmup
        stop_at[0] = start_at[0] + duration
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        time.sleep(max(0, start_at[0] - time.time()))
        tabula_pids = [n.process.pid for n in nodes]
        pg_pids = postgres.pids() if store else []
        cpu_before = cpu_seconds(tabula_pids)
        pg_before = cpu_seconds(pg_pids)
        tx_before = postgres.transactions(database) if store else 0
        for thread in threads:
            thread.join()
        cpu_after = cpu_seconds(tabula_pids)
        pg_after = cpu_seconds(postgres.pids() if store else [])
        tx_after = postgres.transactions(database) if store else 0
        total = sum(counts)
        result = {
            "configuration": name,
            "nodes": count,
            "invocations": total,
            "errors": sum(errors),
            "invocationsPerSecond": round(total / duration, 1),
            "tabulaCpuUsPerInvocation": round((cpu_after - cpu_before) / max(total, 1) * 1e6, 1),
            "postgresCpuUsPerInvocation": round((pg_after - pg_before) / max(total, 1) * 1e6, 1) if store else None,
            "storeTransactionsPerInvocation": round((tx_after - tx_before) / max(total, 1), 3) if store else None,
        }
        return result
    finally:
        for node in nodes:
            node.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tabula", default=os.path.join(REPO, ".build-release", "release", "tabula"))
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args()
    if not os.path.exists(arguments.tabula):
        fallback = os.path.join(REPO, ".build", "release", "tabula")
        arguments.tabula = fallback if os.path.exists(fallback) else sys.exit(f"no tabula at {arguments.tabula}: build it with swift build -c release")
    postgres = Postgres()
    results = []
    try:
        print("one node, SQLite…", file=sys.stderr)
        results.append(measure("sqlite-1", arguments.tabula, 1, None, postgres, None, arguments.duration, arguments.clients))
        for count in (1, 3):
            database = f"bench{count}"
            store = postgres.database(database)
            print(f"{count} node(s), PostgreSQL…", file=sys.stderr)
            results.append(measure(f"postgres-{count}", arguments.tabula, count, store, postgres, database, arguments.duration, arguments.clients))
    finally:
        postgres.stop()
    if arguments.json:
        print(json.dumps({"configurations": results}, indent=2))
        return
    print(f"{'configuration':<14} {'nodes':>5} {'inv/s':>9} {'tabula CPU µs/inv':>18} {'postgres CPU µs/inv':>20} {'store tx/inv':>13} {'errors':>7}")
    for r in results:
        pg = "-" if r["postgresCpuUsPerInvocation"] is None else f"{r['postgresCpuUsPerInvocation']:.1f}"
        tx = "-" if r["storeTransactionsPerInvocation"] is None else f"{r['storeTransactionsPerInvocation']:.3f}"
        print(f"{r['configuration']:<14} {r['nodes']:>5} {r['invocationsPerSecond']:>9.1f} {r['tabulaCpuUsPerInvocation']:>18.1f} {pg:>20} {tx:>13} {r['errors']:>7}")


if __name__ == "__main__":
    main()
