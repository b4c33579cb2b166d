#!/usr/bin/env python3
"""A throwaway PostgreSQL cluster for tests: three etcd members and two PostgreSQL 15 servers under Patroni,
synchronous replication on, all on 127.0.0.1, everything under one directory.

Commands (every one takes --dir D; every wait is bounded):

  start --dir D [--timeout S] [--json] [--postgres-ports A,B] [--rest-ports A,B]
        [--etcd-client-ports A,B,C] [--etcd-peer-ports A,B,C] [--keep-on-failure]
      Starts etcd, then Patroni (which runs initdb / pg_basebackup and PostgreSQL), waits until a primary
      accepts writes and the replica streams with sync_state 'sync', creates the login role and database
      `tabula`, then prints one JSON object on stdout and writes the same to D/cluster.json:
        {"store": "postgres://tabula@127.0.0.1:P1,127.0.0.1:P2/tabula?sslmode=disable",
         "psqlUrl": the same with &target_session_attrs=read-write (for psql), "dir": D, "status", "primary": NAME, "superuser": "postgres",
         "postgres": [{"name", "port", "restApi", "pid", "dataDir", "log"}],
         "etcd": [{"name", "pid", "clientPort", "peerPort", "log"}],
         "patroni": [{"name", "pid", "log"}]}
      Ports not given are chosen free (bound to port 0). Processes run detached (own session, output to
      log files in D) and keep running after this script exits. On failure it says which process failed
      with the last lines of its log, stops what it started (unless --keep-on-failure) and exits 1.
  primary --dir D [--json]         the current leader: "NAME PORT PATRONI_PID" (or a JSON object)
  kill-primary --dir D [--json]    SIGKILLs the leader's Patroni and all its PostgreSQL processes (a crashed
                                   machine); prints what it killed
  wait-primary --dir D [--timeout S] [--json]
                                   waits until a live member is primary and commits a write; prints its name
  stop --dir D [--timeout S]       (succeeds when nothing was started in D) SIGTERM (PostgreSQL: SIGINT, its fast shutdown) to every process recorded
                                   in D/cluster.json and every PostgreSQL process whose working directory is
                                   a data directory in D, SIGKILL after the timeout; removes nothing

Exit status: 0 on success, 1 on failure (the reason on stderr), 2 on bad usage.

When run as root, Patroni and PostgreSQL run as the `postgres` user (PostgreSQL refuses to run as root);
their directories are chowned to it. etcd runs as the invoking user.

Python 3.9 or later, standard library only. Needs the Debian packages etcd-server (3.4), patroni (3.0) and postgresql-15
(deploy/cluster/install-debian.sh installs them).
"""

import argparse
import json
import os
import pwd
import grp
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

PG_BIN = os.environ.get("PATRONI_CLUSTER_PG_BIN", "/usr/lib/postgresql/15/bin")
ETCD = os.environ.get("PATRONI_CLUSTER_ETCD", "/usr/bin/etcd")
PATRONI = os.environ.get("PATRONI_CLUSTER_PATRONI", "/usr/bin/patroni")
SCOPE = "tabula"
SUPERUSER = "postgres"
APP_ROLE = "tabula"
APP_DB = "tabula"
ETCD_MEMBERS = 3
PG_MEMBERS = 2

# Failover timing. A crashed primary's leader key expires `ttl` seconds after its last refresh (refreshed
# every `loop_wait`), then the replica takes the key and promotes: roughly ttl - loop_wait .. ttl + 1 s.
# Patroni's rule is loop_wait + 2 * retry_timeout <= ttl (2 + 6 <= 10). Patroni 3.0 (Debian 12) accepts
# ttl 10; later Patroni releases (3.2+) document a minimum ttl of 20 and raise smaller values to it.
DCS_TIMING = {"ttl": 10, "loop_wait": 2, "retry_timeout": 3}


class Failure(Exception):
    """A failure to report on stderr; the message says what failed and what to look at."""


def log(message):
    print("patroni-cluster: " + message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- helpers

def tail(path, lines=25):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError as error:
        return "(no log: %s)" % error
    return "\n".join("    | " + line for line in text.splitlines()[-lines:])


def free_ports(count):
    """Ports the kernel hands out for port 0 on 127.0.0.1; all held open until all are chosen, so distinct."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def parse_ports(text, count, what):
    if text is None:
        return None
    try:
        ports = [int(p) for p in text.split(",")]
    except ValueError:
        raise Failure("%s: expected %d comma-separated port numbers, got %r" % (what, count, text))
    if len(ports) != count or not all(0 < p < 65536 for p in ports):
        raise Failure("%s: expected %d comma-separated port numbers, got %r" % (what, count, text))
    return ports


def http_get(url, timeout=2.0):
    """(status, parsed JSON body or None); status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    except (OSError, ValueError):
        return 0, None
    try:
        return status, json.loads(body.decode("utf-8"))
    except ValueError:
        return status, None


def proc_cwd(pid):
    try:
        return os.readlink("/proc/%d/cwd" % pid)
    except OSError:
        return None


def proc_exe(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None


def alive(pid):
    """True while the process exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def inside(path, directory):
    if path is None:
        return False
    path = path.removesuffix(" (deleted)")
    directory = os.path.realpath(directory)
    return path == directory or path.startswith(directory + os.sep)


def ours(pid, directory):
    """A recorded pid still names our process: alive, and working in the cluster directory. (A pid reused
    by an unrelated process would not have its working directory there.)"""
    return pid is not None and pid > 0 and alive(pid) and inside(proc_cwd(pid), directory)


def postgres_processes(data_dir):
    """All PostgreSQL processes of one data directory: the postmaster changes into its data directory and
    every child inherits it, so this finds backends orphaned by a killed postmaster too."""
    found = []
    postgres = os.path.realpath(os.path.join(PG_BIN, "postgres"))
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == os.getpid():
            continue
        exe = proc_exe(pid)
        if exe is None or exe.removesuffix(" (deleted)") != postgres:
            continue
        if inside(proc_cwd(pid), data_dir) and alive(pid):
            found.append(pid)
    return sorted(found)


def postmaster_pid(data_dir):
    try:
        with open(os.path.join(data_dir, "postmaster.pid")) as f:
            pid = int(f.readline().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) and inside(proc_cwd(pid), data_dir) else None


def psql(port, sql, database="postgres", timeout=10.0):
    """Runs SQL as the superuser over TCP; returns (ok, output or error text)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "3"
    command = [os.path.join(PG_BIN, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
               "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER, "-d", database, "-c", sql]
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, "psql timed out after %.0f s" % timeout
    if result.returncode != 0:
        return False, (result.stderr or result.stdout).strip()
    return True, result.stdout.strip()


def load_state(directory):
    path = os.path.join(directory, "cluster.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise Failure("%s not found: no cluster was started in %s" % (path, directory))
    except ValueError as error:
        raise Failure("%s is not valid JSON (%s)" % (path, error))


def save_state(directory, state):
    path = os.path.join(directory, "cluster.json")
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(state, f, indent=2)
        f.write("\n")
    os.replace(temporary, path)


def public_state(state):
    return {k: v for k, v in state.items() if not k.startswith("_")}


# ------------------------------------------------------------------------------------------------ start

class RunAs:
    """Whom Patroni/PostgreSQL run as: the postgres user when we are root, else ourselves."""

    def __init__(self):
        self.demote = os.geteuid() == 0
        if self.demote:
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                raise Failure("running as root, but there is no `postgres` user to run PostgreSQL as "
                              "(install the postgresql package, or run as an unprivileged user)")
            self.uid, self.gid = entry.pw_uid, entry.pw_gid
            self.groups = os.getgrouplist("postgres", entry.pw_gid)
            self.name = "postgres"
        else:
            self.uid, self.gid, self.groups = os.getuid(), os.getgid(), None
            self.name = pwd.getpwuid(self.uid).pw_name

    def popen_args(self):
        if not self.demote:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": self.groups}

    def own(self, path):
        if self.demote:
            os.chown(path, self.uid, self.gid)

    def check_access(self, path):
        """The postgres user must reach the member directory: every parent must be searchable by it."""
        if not self.demote:
            return
        result = subprocess.run(["test", "-w", path, "-a", "-x", path], **self.popen_args())
        if result.returncode != 0:
            raise Failure("the postgres user cannot reach %s: run with a directory whose parents are "
                          "searchable by others (e.g. under /tmp), or chmod o+x its parents" % path)


def spawn(command, cwd, log_path, env, extra=None):
    """Detached: own session (no signal from our terminal reaches it), stdin closed, output to its log."""
    with open(log_path, "ab") as out:
        return subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                                **(extra or {}))


def clean_env(home):
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
           "LC_ALL": "C.UTF-8", "HOME": home}
    return env


def patroni_config(directory, name, pg_port, rest_port, etcd_client_ports):
    member = os.path.join(directory, name)
    return {
        "scope": SCOPE,
        "namespace": "/service/",
        "name": name,
        "log": {"level": "INFO"},
        "restapi": {"listen": "127.0.0.1:%d" % rest_port, "connect_address": "127.0.0.1:%d" % rest_port},
        # The etcd v3 API (gRPC gateway, /v3/...), which etcd 3.4 serves by default; Patroni 3.0's `etcd3`
        # module speaks it over HTTP (the v2 API would need etcd --enable-v2).
        "etcd3": {"hosts": ["127.0.0.1:%d" % p for p in etcd_client_ports]},
        "bootstrap": {
            "dcs": dict(DCS_TIMING, **{
                "maximum_lag_on_failover": 1048576,
                # A commit is acknowledged only once the synchronous standby has it; Patroni fails over only
                # to that standby. (Not `synchronous_mode_strict`: a primary left alone keeps accepting
                # writes, which is what a two-server cluster needs to survive losing one.)
                "synchronous_mode": True,
                "postgresql": {
                    "use_pg_rewind": True,
                    "use_slots": True,
                    "parameters": {"max_connections": 100, "wal_log_hints": "on", "max_wal_senders": 10,
                                   "max_replication_slots": 10, "wal_keep_size": "128MB"},
                },
            }),
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
        },
        "postgresql": {
            "listen": "127.0.0.1:%d" % pg_port,
            "connect_address": "127.0.0.1:%d" % pg_port,
            "data_dir": os.path.join(member, "data"),
            "bin_dir": PG_BIN,
            "pgpass": os.path.join(member, "pgpass"),
            "authentication": {
                "superuser": {"username": SUPERUSER, "password": "postgres-test-only"},
                "replication": {"username": "replicator", "password": "replicator-test-only"},
                "rewind": {"username": "rewinder", "password": "rewinder-test-only"},
            },
            # `trust` on loopback only: this is a test tool whose servers listen on 127.0.0.1 alone, so
            # any local user may connect as any role. Never use this pg_hba for a real deployment
            # (deploy/cluster/patroni-node*.yml use scram-sha-256).
            "pg_hba": [
                "local all all trust",
                "host all all 127.0.0.1/32 trust",
                "host replication replicator 127.0.0.1/32 trust",
            ],
            # No Unix sockets: /var/run/postgresql belongs to the system's clusters, and a socket path
            # under a long test directory would exceed the 107-byte limit. Patroni connects over TCP.
            "parameters": {"unix_socket_directories": ""},
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }


class Starter:
    def __init__(self, args):
        self.args = args
        self.directory = os.path.realpath(args.dir)
        self.deadline = time.monotonic() + args.timeout
        self.run_as = RunAs()
        self.procs = {}  # name -> (Popen, log path)
        self.state = None

    def remaining(self):
        return self.deadline - time.monotonic()

    def check_processes(self):
        for name, (proc, log_path) in self.procs.items():
            code = proc.poll()
            if code is not None:
                raise Failure("%s (pid %d) exited with status %d during start; last lines of %s:\n%s"
                              % (name, proc.pid, code, log_path, tail(log_path)))

    def wait_for(self, what, probe, logs):
        """Polls probe() until it returns a true value, checking that our processes still run."""
        last_report = time.monotonic()
        started = time.monotonic()
        while True:
            self.check_processes()
            value = probe()
            if value:
                return value
            now = time.monotonic()
            if now >= self.deadline:
                details = "\n".join("  %s:\n%s" % (p, tail(p)) for p in logs)
                raise Failure("timed out after %.0f s waiting for %s; last lines of the logs:\n%s"
                              % (self.args.timeout, what, details))
            if now - last_report >= 5:
                log("still waiting for %s (%.0f s)" % (what, now - started))
                last_report = now
            time.sleep(0.5)

    def run(self):
        d = self.directory
        pg_ports = parse_ports(self.args.postgres_ports, PG_MEMBERS, "--postgres-ports")
        rest_ports = parse_ports(self.args.rest_ports, PG_MEMBERS, "--rest-ports")
        client_ports = parse_ports(self.args.etcd_client_ports, ETCD_MEMBERS, "--etcd-client-ports")
        peer_ports = parse_ports(self.args.etcd_peer_ports, ETCD_MEMBERS, "--etcd-peer-ports")
        os.makedirs(d, exist_ok=True)
        if os.path.exists(os.path.join(d, "cluster.json")):
            raise Failure("%s/cluster.json exists: a cluster was started there; run `stop --dir %s` and "
                          "use a fresh directory" % (d, d))
        existing = [n for n in os.listdir(d) if n.startswith(("etcd", "pg"))]
        if existing:
            raise Failure("%s already holds cluster data (%s); use a fresh directory" % (d, ", ".join(existing)))
        if self.run_as.demote:
            os.chmod(d, 0o755)  # the postgres user must traverse it to reach its member directories

        needed = sum(len(x) for x, given in ((range(PG_MEMBERS), pg_ports), (range(PG_MEMBERS), rest_ports),
                                             (range(ETCD_MEMBERS), client_ports),
                                             (range(ETCD_MEMBERS), peer_ports)) if given is None)
        pool = free_ports(needed)
        take = lambda n: [pool.pop() for _ in range(n)]
        pg_ports = pg_ports or take(PG_MEMBERS)
        rest_ports = rest_ports or take(PG_MEMBERS)
        client_ports = client_ports or take(ETCD_MEMBERS)
        peer_ports = peer_ports or take(ETCD_MEMBERS)

        pg_names = ["pg%d" % (i + 1) for i in range(PG_MEMBERS)]
        self.state = {
            "store": "postgres://%s@%s/%s?sslmode=disable" % (
                APP_ROLE, ",".join("127.0.0.1:%d" % p for p in pg_ports), APP_DB),
            # The same servers for libpq clients (psql): they pick the primary by target_session_attrs.
            "psqlUrl": "postgresql://%s@%s/%s?sslmode=disable&target_session_attrs=read-write" % (
                APP_ROLE, ",".join("127.0.0.1:%d" % p for p in pg_ports), APP_DB),
            "dir": d,
            "status": "starting",
            "primary": None,
            "superuser": SUPERUSER,
            "postgres": [{"name": n, "port": pg_ports[i], "restApi": "http://127.0.0.1:%d" % rest_ports[i],
                          "pid": None, "dataDir": os.path.join(d, n, "data"),
                          "log": os.path.join(d, n + ".log")} for i, n in enumerate(pg_names)],
            "etcd": [],
            "patroni": [],
        }
        save_state(d, self.state)

        # etcd: three members, one per port pair, all started at once (each waits for a quorum).
        initial_cluster = ",".join("etcd%d=http://127.0.0.1:%d" % (i + 1, peer_ports[i]) for i in range(ETCD_MEMBERS))
        token = "tabula-%d-%d" % (os.getpid(), int(time.time()))
        for i in range(ETCD_MEMBERS):
            name = "etcd%d" % (i + 1)
            member = os.path.join(d, name)
            os.makedirs(member, mode=0o700)
            log_path = os.path.join(d, name + ".log")
            command = [ETCD, "--name", name, "--data-dir", os.path.join(member, "data"),
                       "--listen-client-urls", "http://127.0.0.1:%d" % client_ports[i],
                       "--advertise-client-urls", "http://127.0.0.1:%d" % client_ports[i],
                       "--listen-peer-urls", "http://127.0.0.1:%d" % peer_ports[i],
                       "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer_ports[i],
                       "--initial-cluster", initial_cluster, "--initial-cluster-state", "new",
                       "--initial-cluster-token", token, "--logger", "zap", "--log-outputs", "stderr"]
            try:
                proc = spawn(command, member, log_path, clean_env(member))
            except OSError as error:
                raise Failure("cannot run %s: %s (install etcd-server: deploy/cluster/install-debian.sh)" % (ETCD, error))
            self.procs[name] = (proc, log_path)
            self.state["etcd"].append({"name": name, "pid": proc.pid, "clientPort": client_ports[i],
                                       "peerPort": peer_ports[i], "log": log_path})
            save_state(d, self.state)
        log("etcd members started on client ports %s" % ", ".join(map(str, client_ports)))

        def etcd_healthy():
            for port in client_ports:
                status, body = http_get("http://127.0.0.1:%d/health" % port)
                if status != 200 or not body or body.get("health") != "true":
                    return False
            return True
        self.wait_for("a healthy three-member etcd cluster", etcd_healthy,
                      [e["log"] for e in self.state["etcd"]])
        log("etcd is healthy")

        # Patroni: one per PostgreSQL server; the first to take the leader key runs initdb, the other
        # clones it with pg_basebackup.
        for i, name in enumerate(pg_names):
            member = os.path.join(d, name)
            os.makedirs(member, mode=0o700)
            self.run_as.own(member)
            self.run_as.check_access(member)
            config_path = os.path.join(d, name + ".patroni.json")
            with open(config_path, "w") as f:
                json.dump(patroni_config(d, name, pg_ports[i], rest_ports[i], client_ports), f, indent=2)
            os.chmod(config_path, 0o644)
            log_path = self.state["postgres"][i]["log"]
            try:
                proc = spawn([PATRONI, config_path], member, log_path, clean_env(member),
                             self.run_as.popen_args())
            except OSError as error:
                raise Failure("cannot run %s: %s (install patroni: deploy/cluster/install-debian.sh)" % (PATRONI, error))
            self.procs["patroni " + name] = (proc, log_path)
            self.state["patroni"].append({"name": name, "pid": proc.pid, "log": log_path})
            save_state(d, self.state)
        log("Patroni started for %s (as user %s)" % (", ".join(pg_names), self.run_as.name))

        pg_logs = [p["log"] for p in self.state["postgres"]]

        def leader():
            for member in self.state["postgres"]:
                status, _ = http_get(member["restApi"] + "/primary")
                if status == 200:
                    ok, out = psql(member["port"], "SELECT pg_is_in_recovery()", timeout=5)
                    if ok and out == "f":
                        return member
            return None
        primary = self.wait_for("a primary accepting connections", leader, pg_logs)
        log("%s is primary on port %d" % (primary["name"], primary["port"]))

        replica = [m for m in self.state["postgres"] if m is not primary][0]

        def synchronous():
            ok, out = psql(primary["port"], "SELECT application_name FROM pg_stat_replication "
                                            "WHERE state = 'streaming' AND sync_state = 'sync'", timeout=5)
            return ok and replica["name"] in out.split()
        self.wait_for("%s to stream synchronously from %s" % (replica["name"], primary["name"]),
                      synchronous, pg_logs)
        log("%s streams synchronously" % replica["name"])

        # The application's role and database, created once the replica is synchronous so they are on both.
        sql_steps = [
            "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN "
            "CREATE ROLE %s LOGIN; END IF; END$$" % (APP_ROLE, APP_ROLE),
        ]
        for sql in sql_steps:
            ok, out = psql(primary["port"], sql, timeout=max(5, self.remaining()))
            if not ok:
                raise Failure("creating role %s on %s failed: %s" % (APP_ROLE, primary["name"], out))
        ok, out = psql(primary["port"], "SELECT 1 FROM pg_database WHERE datname = '%s'" % APP_DB)
        if ok and out != "1":
            ok, out = psql(primary["port"], "CREATE DATABASE %s OWNER %s" % (APP_DB, APP_ROLE),
                           timeout=max(5, self.remaining()))
        if not ok:
            raise Failure("creating database %s on %s failed: %s" % (APP_DB, primary["name"], out))

        for member in self.state["postgres"]:
            member["pid"] = postmaster_pid(member["dataDir"])
        self.state["primary"] = primary["name"]
        self.state["status"] = "running"
        save_state(d, self.state)
        return self.state


def command_start(args):
    starter = Starter(args)
    try:
        state = starter.run()
    except BaseException as error:
        if starter.state is not None and not args.keep_on_failure:
            starter.state["status"] = "failed"
            save_state(starter.directory, starter.state)
            log("start failed; stopping what was started (use --keep-on-failure to leave it running)")
            try:
                stop_cluster(starter.directory, 10.0)
            except Failure as stop_error:
                log(str(stop_error))
        raise error
    print(json.dumps(public_state(state)))
    return 0


# ------------------------------------------------------------------------------------- primary and kill

def find_primary(state, directory):
    """The member whose own Patroni says it is the running primary (GET /primary answers 200)."""
    for member in state["postgres"]:
        status, body = http_get(member["restApi"] + "/primary")
        if status == 200:
            patroni = next((p for p in state["patroni"] if p["name"] == member["name"]), {})
            return {"name": member["name"], "port": member["port"], "restApi": member["restApi"],
                    "patroniPid": patroni.get("pid"),
                    "postgresPid": postmaster_pid(member["dataDir"]) or (body or {}).get("postmaster_pid")}
    return None


def command_primary(args):
    directory = os.path.realpath(args.dir)
    state = load_state(directory)
    primary = find_primary(state, directory)
    if primary is None:
        raise Failure("no member is primary now (no Patroni REST API answered 200 on /primary); "
                      "after kill-primary, run wait-primary")
    if args.json:
        print(json.dumps(primary))
    else:
        print("%s %d %s" % (primary["name"], primary["port"], primary["patroniPid"]))
    return 0


def command_kill_primary(args):
    directory = os.path.realpath(args.dir)
    state = load_state(directory)
    primary = find_primary(state, directory)
    if primary is None:
        raise Failure("no member is primary now; nothing killed")
    member = next(m for m in state["postgres"] if m["name"] == primary["name"])
    killed = []
    # Patroni first, so it cannot notice its postmaster's death and restart it.
    if primary["patroniPid"] and ours(primary["patroniPid"], directory):
        os.kill(primary["patroniPid"], signal.SIGKILL)
        killed.append(primary["patroniPid"])
    else:
        raise Failure("the Patroni process of %s (pid %s) is not running or not ours; nothing killed"
                      % (primary["name"], primary["patroniPid"]))
    postgres = postgres_processes(member["dataDir"])
    for pid in postgres:  # the postmaster and every backend: a crashed machine drops its connections too
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            pass
    state.setdefault("killed", []).append({"name": primary["name"], "at": time.time(), "pids": killed})
    state["primary"] = None
    save_state(directory, state)
    result = {"name": primary["name"], "port": primary["port"], "patroniPid": primary["patroniPid"],
              "postgresPid": primary["postgresPid"], "killedPids": killed}
    if args.json:
        print(json.dumps(result))
    else:
        print("killed %s (port %d): Patroni pid %d, postmaster pid %s, %d PostgreSQL processes in all"
              % (primary["name"], primary["port"], primary["patroniPid"], primary["postgresPid"], len(postgres)))
    return 0


def command_wait_primary(args):
    directory = os.path.realpath(args.dir)
    state = load_state(directory)
    started = time.monotonic()
    deadline = started + args.timeout
    last_report = started
    last_error = "no member answered 200 on /primary"
    while True:
        primary = find_primary(state, directory)
        if primary is not None:
            # A write, committed: proves the server is out of recovery and that synchronous replication
            # does not hold commits (with no standby left, Patroni empties synchronous_standby_names).
            remaining = max(2.0, deadline - time.monotonic())
            ok, out = psql(primary["port"],
                           "CREATE TABLE IF NOT EXISTS patroni_cluster_probe (at timestamptz); "
                           "INSERT INTO patroni_cluster_probe VALUES (now())", timeout=min(10.0, remaining))
            if ok:
                seconds = time.monotonic() - started
                state["primary"] = primary["name"]
                save_state(directory, state)
                if args.json:
                    print(json.dumps({"name": primary["name"], "port": primary["port"],
                                      "patroniPid": primary["patroniPid"], "postgresPid": primary["postgresPid"],
                                      "seconds": round(seconds, 3)}))
                else:
                    print(primary["name"])
                return 0
            last_error = "%s is primary but a write failed: %s" % (primary["name"], out)
        now = time.monotonic()
        if now >= deadline:
            logs = "\n".join("  %s:\n%s" % (m["log"], tail(m["log"], 15)) for m in state["postgres"])
            raise Failure("no primary accepting writes after %.0f s (%s); last lines of the logs:\n%s"
                          % (args.timeout, last_error, logs))
        if now - last_report >= 5:
            log("still waiting for a primary (%.0f s)" % (now - started))
            last_report = now
        time.sleep(0.25)


# ------------------------------------------------------------------------------------------------- stop

def stop_cluster(directory, timeout):
    state = load_state(directory)
    # (pid, first signal, what): Patroni first (it shuts its PostgreSQL down), then PostgreSQL (SIGINT is
    # its fast shutdown; SIGTERM would wait for clients to disconnect), then etcd.
    stages = []
    stages.append([(p["pid"], signal.SIGTERM, "patroni " + p["name"]) for p in state.get("patroni", [])])
    stages.append([(pid, signal.SIGINT, "postgres " + m["name"])
                   for m in state.get("postgres", []) for pid in [postmaster_pid(m["dataDir"]) or m.get("pid")]])
    # etcd one member at a time: a leader that is stopped hands leadership to a follower first, and waits
    # up to 7 s for it when every follower is shutting down at the same moment.
    stages.extend([[(e["pid"], signal.SIGTERM, e["name"])] for e in state.get("etcd", [])])
    stopped = []

    def orphans():
        return [(pid, signal.SIGKILL, "postgres process of " + m["name"])
                for m in state.get("postgres", []) for pid in postgres_processes(m["dataDir"])]

    for stage in stages:
        stage_started = time.monotonic()
        targets = [(pid, sig, what) for pid, sig, what in stage if ours(pid, directory)]
        for pid, sig, what in targets:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while any(alive(pid) for pid, _, _ in targets) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid, _, what in targets:
            if alive(pid):
                log("%s (pid %d) still running after %.0f s; sending SIGKILL" % (what, pid, timeout))
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            stopped.append("%s (%d)" % (what, pid))
        if targets:
            log("stopped %s in %.1f s" % (", ".join(w for _, _, w in targets), time.monotonic() - stage_started))
    # PostgreSQL children left behind by a killed postmaster (they exit on their own soon, but stop
    # promises that nothing it started is left).
    leftovers = orphans()
    for pid, sig, what in leftovers:
        try:
            os.kill(pid, sig)
            stopped.append("%s (%d)" % (what, pid))
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    remaining = []
    while time.monotonic() < deadline:
        all_pids = [pid for stage in stages for pid, _, _ in stage] + [pid for pid, _, _ in leftovers]
        remaining = [pid for pid in all_pids if ours(pid, directory)] + [pid for pid, _, _ in orphans()]
        if not remaining:
            break
        time.sleep(0.2)
    if remaining:
        raise Failure("processes still running after SIGKILL: %s" % ", ".join(map(str, sorted(set(remaining)))))
    state["status"] = "stopped"
    state["primary"] = None
    save_state(directory, state)
    return stopped


def command_stop(args):
    directory = os.path.realpath(args.dir)
    if not os.path.exists(os.path.join(directory, "cluster.json")):
        # start writes cluster.json before it starts any process, so there is nothing of ours to stop.
        log("no %s/cluster.json: nothing was started there, nothing to stop" % directory)
        return 0
    stopped = stop_cluster(directory, args.timeout)
    log("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


# ------------------------------------------------------------------------------------------------- main

def main(argv):
    parser = argparse.ArgumentParser(prog="patroni-cluster.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    start = commands.add_parser("start", help="start etcd x3 and PostgreSQL x2 under Patroni")
    start.add_argument("--dir", required=True)
    start.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the cluster (90)")
    start.add_argument("--json", action="store_true", help="accepted; start always prints JSON")
    start.add_argument("--postgres-ports")
    start.add_argument("--rest-ports")
    start.add_argument("--etcd-client-ports")
    start.add_argument("--etcd-peer-ports")
    start.add_argument("--keep-on-failure", action="store_true")

    for name, text in (("primary", "print the current leader"),
                       ("kill-primary", "SIGKILL the leader's Patroni and PostgreSQL")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--dir", required=True)
        sub.add_argument("--json", action="store_true")

    wait = commands.add_parser("wait-primary", help="wait until a primary accepts writes")
    wait.add_argument("--dir", required=True)
    wait.add_argument("--timeout", type=float, default=60.0)
    wait.add_argument("--json", action="store_true")

    stop = commands.add_parser("stop", help="stop every process started in --dir")
    stop.add_argument("--dir", required=True)
    stop.add_argument("--timeout", type=float, default=20.0, help="seconds before SIGKILL, per stage (20)")

    args = parser.parse_args(argv)
    handlers = {"start": command_start, "primary": command_primary, "kill-primary": command_kill_primary,
                "wait-primary": command_wait_primary, "stop": command_stop}
    try:
        return handlers[args.command](args)
    except Failure as error:
        log("%s failed: %s" % (args.command, error))
        return 1
    except KeyboardInterrupt:
        log("%s interrupted" % args.command)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
