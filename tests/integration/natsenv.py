# SPDX-License-Identifier: MIT
# NATS servers for the tests and the benchmark, started and stopped by us.
#
#   Single   one `nats-server -js` on loopback with its own store directory:
#            start, wait until it answers with INFO, stop, restart on the
#            same store (a NATS outage that keeps the stream).
#   Cluster  three JetStream nodes, each in a network namespace of its own
#            (rsn<pid>-n1..n3), joined by veth pairs to a bridge in a fourth
#            namespace (rsn<pid>-hub) on 10.77.0.0/24.  Nothing is added to the
#            namespace we were started in: the veths are made inside the hub
#            and the nodes, and die with them.  Processes that should reach the
#            nodes run in the hub (`with cluster.inside():` or hub_cmd()).
#
# Cleanup is always by pid (processes we started) and by name (namespaces
# carrying our pid).  Namespaces left by a run that crashed are recognised by
# the dead pid in their name and removed, with the processes still in them,
# before a new cluster is made.  Clusters of tests running side by side
# (run.py --jobs, a process per test) never meet: their names carry different
# live pids, and namespaces are added and deleted under a lock.
#
#   python3 tests/integration/natsenv.py [--probe build/tests/helpers/natsprobe]
# runs the self-test: a replicas-3 stream keeps every message across a node kill.
import contextlib
import ctypes
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
NS_PREFIX = "rsn"
SUBNET = "10.77.0"
HUB_ADDR = SUBNET + ".254"
CLIENT_PORT, ROUTE_PORT, MONITOR_PORT = 4222, 6222, 8222
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class Unavailable(Exception):
    """The environment cannot be built here (no nats-server, no netns)."""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _read_info(sock, deadline):
    """The server's greeting: a line 'INFO {...}'."""
    buf = b""
    while b"\r\n" not in buf:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("connection closed before INFO")
        buf += chunk
    line = buf.split(b"\r\n", 1)[0]
    if not line.startswith(b"INFO "):
        raise OSError("greeting is not INFO: %r" % line[:80])
    return line


def wait_info(host, port, timeout=10.0, proc=None, sock_factory=None):
    """Connect to host:port until the server greets with INFO."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("nats-server exited with %s before it listened" % proc.returncode)
        s = sock_factory() if sock_factory else socket.socket()
        try:
            s.settimeout(1.0)
            s.connect((host, port))
            return _read_info(s, deadline)
        except OSError as e:
            last = e
        finally:
            s.close()
        time.sleep(0.05)
    raise RuntimeError("nats-server at %s:%d never sent INFO (%s)" % (host, port, last))


def _stop(proc, grace=5.0):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


class Single:
    """One JetStream server on 127.0.0.1 with a private store directory."""

    def __init__(self, workdir=None, port=None, name="rs-single", extra_conf="", wrap=()):
        if not os.access(NATS_SERVER, os.X_OK):
            raise Unavailable("nats-server is not installed (apt-get install nats-server)")
        self.own_dir = workdir is None
        self.dir = tempfile.mkdtemp(prefix="rs-nats-") if workdir is None else workdir
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.name = name
        self.conf = os.path.join(self.dir, "nats.conf")
        self.log = os.path.join(self.dir, "nats.log")
        self.store = os.path.join(self.dir, "store")
        with open(self.conf, "w") as f:
            f.write("server_name: %s\nlisten: 127.0.0.1:%d\n"
                    "jetstream {\n  store_dir: \"%s\"\n  max_memory_store: 256MB\n  max_file_store: 4GB\n}\n%s"
                    % (name, self.port, self.store, extra_conf))
        self.wrap = list(wrap)     # e.g. taskset -c 0
        self.proc = None

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port

    def start(self, timeout=10.0):
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.proc = subprocess.Popen(self.wrap + [NATS_SERVER, "-c", self.conf, "-l", self.log],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        wait_info("127.0.0.1", self.port, timeout, self.proc)
        return self

    def stop(self):
        _stop(self.proc)

    def kill(self):
        """An outage without a goodbye (SIGKILL)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def restart(self, down_secs=0.0):
        self.stop()
        time.sleep(down_secs)
        return self.start()

    def close(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, n=4000):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

# ---------------------------------------------------------------- namespaces


def _ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=20)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def _netns_list():
    r = _ip("netns", "list", check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def _pid_alive(pid):
    """True while pid runs (a zombie waiting to be reaped counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rindex(")") + 2:].split()[0] != "Z"


def _remove_netns(name):
    """Kill what still runs in namespace NAME (our own leftovers: the name
    carries our prefix) and delete it.  Quiet if it is already gone."""
    r = _ip("netns", "pids", name, check=False)
    pids = [int(p) for p in r.stdout.split() if p.isdigit()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    end = time.monotonic() + 5
    while pids and time.monotonic() < end and any(_pid_alive(p) for p in pids):
        time.sleep(0.05)
    _ip("netns", "del", name, check=False)


def remove_stale():
    """Namespaces of earlier runs whose owner process is gone."""
    gone = []
    for name in _netns_list():
        m = re.match(NS_PREFIX + r"(\d+)-", name)
        if m and not _pid_alive(int(m.group(1))):
            _remove_netns(name)
            gone.append(name)
    return gone


@contextlib.contextmanager
def netns_lock():
    """Namespaces are added and deleted by one process at a time (tests may run side by
    side): the first `ip netns add` on a machine makes /run/netns a mount point, and two
    doing that at once stack two mounts."""
    fd = os.open(os.path.join(tempfile.gettempdir(), "ringside-natsenv.lock"),
                 os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def netns_available():
    """None if network namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if not shutil.which("ip"):
        return "the ip command (iproute2) is not installed"
    name = "%s%d-probe" % (NS_PREFIX, os.getpid())
    with netns_lock():
        r = _ip("netns", "add", name, check=False)
        if r.returncode != 0:
            return "ip netns add failed: %s" % r.stderr.strip()
        _ip("netns", "del", name, check=False)
    return None


@contextlib.contextmanager
def in_netns(name):
    """Run the body (this thread, and every process it starts) in namespace
    NAME; sockets made inside stay there after the body ends."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise RuntimeError("setns %s: %s" % (name, os.strerror(ctypes.get_errno())))
        try:
            yield
        finally:
            if _libc.setns(home, CLONE_NEWNET) != 0:
                raise RuntimeError("setns back: %s" % os.strerror(ctypes.get_errno()))
    finally:
        os.close(target)
        os.close(home)


class Cluster:
    """Three JetStream nodes in namespaces of their own, routed through a hub."""

    def __init__(self, workdir=None, nodes=3, name="rs"):
        if not os.access(NATS_SERVER, os.X_OK):
            raise Unavailable("nats-server is not installed (apt-get install nats-server)")
        why = netns_available()
        if why:
            raise Unavailable(why)
        self.own_dir = workdir is None
        self.dir = tempfile.mkdtemp(prefix="rs-natsc-") if workdir is None else workdir
        os.makedirs(self.dir, exist_ok=True)
        self.n = nodes
        self.cluster_name = name
        self.tag = "%s%d" % (NS_PREFIX, os.getpid())
        self.hub = self.tag + "-hub"
        self.procs = [None] * nodes
        self.made = []            # namespaces created, for cleanup

    def ns(self, i):
        return "%s-n%d" % (self.tag, i + 1)

    def addr(self, i):
        return "%s.%d" % (SUBNET, i + 1)

    def url(self, i):
        return "nats://%s:%d" % (self.addr(i), CLIENT_PORT)

    def urls(self, order=None):
        return ",".join(self.url(i) for i in (order if order is not None else range(self.n)))

    def server_name(self, i):
        return "n%d" % (i + 1)

    # -------------------------------------------------------- network

    def _add_ns(self, name):
        _remove_netns(name)       # a same-pid leftover (pid reuse)
        _ip("netns", "add", name)
        self.made.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def build_network(self):
        with netns_lock():
            remove_stale()
            self._add_ns(self.hub)
            for i in range(self.n):
                self._add_ns(self.ns(i))
        _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.hub, "addr", "add", HUB_ADDR + "/24", "dev", "br0")
        _ip("-n", self.hub, "link", "set", "br0", "up")
        for i in range(self.n):
            ns = self.ns(i)
            veth = "v%d" % (i + 1)
            # Made in the hub with its peer moved straight into the node: no
            # interface ever exists in the namespace we run in.
            _ip("-n", self.hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("-n", self.hub, "link", "set", veth, "master", "br0")
            _ip("-n", self.hub, "link", "set", veth, "up")
            _ip("-n", ns, "addr", "add", self.addr(i) + "/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")

    # -------------------------------------------------------- servers

    def _conf(self, i):
        routes = ", ".join("nats-route://%s:%d" % (self.addr(j), ROUTE_PORT) for j in range(self.n) if j != i)
        store = os.path.join(self.dir, "store-n%d" % (i + 1))
        path = os.path.join(self.dir, "n%d.conf" % (i + 1))
        with open(path, "w") as f:
            f.write("server_name: %s\nlisten: %s:%d\nhttp: %s:%d\n"
                    "jetstream {\n  store_dir: \"%s\"\n  max_memory_store: 256MB\n  max_file_store: 2GB\n}\n"
                    "cluster {\n  name: %s\n  listen: %s:%d\n  routes: [%s]\n}\n"
                    % (self.server_name(i), self.addr(i), CLIENT_PORT, self.addr(i), MONITOR_PORT, store,
                       self.cluster_name, self.addr(i), ROUTE_PORT, routes))
        return path

    def _hub_socket(self):
        with in_netns(self.hub):
            return socket.socket()

    def start_node(self, i, timeout=15.0):
        if self.procs[i] is not None and self.procs[i].poll() is None:
            return
        log = os.path.join(self.dir, "n%d.log" % (i + 1))
        self.procs[i] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(i), NATS_SERVER, "-c", self._conf(i), "-l", log],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        wait_info(self.addr(i), CLIENT_PORT, timeout, self.procs[i], self._hub_socket)

    def kill_node(self, i):
        """Node i dies without a goodbye (SIGKILL, by pid)."""
        p = self.procs[i]
        if p is not None and p.poll() is None:
            p.kill()
            p.wait(timeout=5)

    def stop_node(self, i):
        _stop(self.procs[i])

    def node_alive(self, i):
        return self.procs[i] is not None and self.procs[i].poll() is None

    def cut_node(self, i, down=True):
        """Unplug (or plug back) node i's cable at the hub: a partition, the
        process keeps running."""
        _ip("-n", self.hub, "link", "set", "v%d" % (i + 1), "down" if down else "up")

    def healthz(self, i):
        """The node's /healthz answer (JetStream current and a meta leader known)."""
        with in_netns(self.hub):
            s = socket.create_connection((self.addr(i), MONITOR_PORT), timeout=2)
        try:
            s.sendall(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        return data

    def wait_jetstream(self, timeout=30.0, nodes=None):
        """Until every (listed) node reports JetStream healthy."""
        deadline = time.monotonic() + timeout
        nodes = list(range(self.n)) if nodes is None else nodes
        last = b""
        while time.monotonic() < deadline:
            ok = True
            for i in nodes:
                try:
                    last = self.healthz(i)
                except OSError as e:
                    last, ok = str(e).encode(), False
                    break
                if b" 200 " not in last.split(b"\r\n", 1)[0] or b'"ok"' not in last:
                    ok = False
                    break
            if ok:
                return
            time.sleep(0.25)
        raise RuntimeError("JetStream cluster not healthy in %.0f s: %r" % (timeout, last[-200:]))

    def start(self):
        try:
            self.build_network()
            for i in range(self.n):
                self.start_node(i)
            self.wait_jetstream()
        except BaseException:
            self.close()
            raise
        return self

    # -------------------------------------------------------- running things

    def exec_cmd(self, i, cmd):
        """argv that runs cmd inside node i's namespace."""
        return ["ip", "netns", "exec", self.ns(i)] + list(cmd)

    def hub_cmd(self, cmd):
        """argv that runs cmd inside the hub namespace (reaches every node)."""
        return ["ip", "netns", "exec", self.hub] + list(cmd)

    def inside(self):
        """Context: this thread, and every process it starts, in the hub."""
        return in_netns(self.hub)

    def log_tail(self, i, n=3000):
        try:
            with open(os.path.join(self.dir, "n%d.log" % (i + 1)), errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def close(self):
        """Idempotent: stop our servers by pid, then remove our namespaces
        (and anything still running in them)."""
        for i in range(self.n):
            try:
                _stop(self.procs[i], grace=3.0)
            except Exception:
                pass
        with netns_lock():
            for name in reversed(self.made):
                _remove_netns(name)
        self.made = []
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

# ---------------------------------------------------------------- self-test


def _probe(probe, cluster, args, order, timeout=60):
    r = subprocess.run(cluster.hub_cmd([probe, cluster.urls(order)] + args),
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, (r.stdout + r.stderr).strip()


def self_test(probe, count=2000):
    """A replicas-3 stream is created, takes COUNT messages, loses its leader
    node mid-publication and still delivers all 2 x COUNT exactly once, read
    from a node other than the one published to; then the namespaces are gone."""
    single = Single()
    try:
        single.start()
        info = wait_info("127.0.0.1", single.port)
        assert b'"jetstream":true' in info.replace(b" ", b""), "single node without JetStream: %r" % info
        single.restart()
        print("single: %s answers INFO with JetStream, restarted on the same store" % single.url)
    finally:
        single.close()

    c = Cluster()
    names = []
    try:
        c.start()
        names = list(c.made)
        rc, out = _probe(probe, c, ["create", "PROBE", "probe.s", "3"], [0, 1, 2])
        assert rc == 0, out
        print("cluster: " + out)
        rc, out = _probe(probe, c, ["publish", "probe.s", "1", str(count)], [0, 1, 2])
        assert rc == 0, out
        rc, out = _probe(probe, c, ["info", "PROBE"], [1, 2, 0])
        assert rc == 0 and "followers=2" in out, out
        leader = int(re.search(r"leader=n(\d)", out).group(1)) - 1
        print("cluster: %s; killing the leader n%d" % (out, leader + 1))
        # The second half is published while the leader dies.
        others = [j for j in range(3) if j != leader]
        pub = subprocess.Popen(c.hub_cmd([probe, c.urls(others), "publish", "probe.s", str(count + 1), str(count)]),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(0.3)
        c.kill_node(leader)
        out, _ = pub.communicate(timeout=90)
        assert pub.returncode == 0, out
        print("cluster: " + out.strip())
        rc, out = _probe(probe, c, ["check", "probe.s", str(2 * count), "30"], [others[1], others[0]])
        assert rc == 0, out
        print("cluster: " + out)
        c.start_node(leader)
        c.wait_jetstream()
        print("cluster: n%d back, JetStream healthy on all three" % (leader + 1))
    finally:
        c.close()
    left = [n for n in names if n in _netns_list()]
    assert not left, "namespaces left behind: %s" % left
    print("cleanup: namespaces %s removed" % ", ".join(names))
    c.close()   # idempotent


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="NATS test environment self-test")
    ap.add_argument("--probe", default="build/tests/helpers/natsprobe")
    ap.add_argument("--count", type=int, default=2000)
    a = ap.parse_args()
    try:
        self_test(os.path.abspath(a.probe), a.count)
    except Unavailable as e:
        print("SKIP natsenv self-test: %s" % e)
        sys.exit(0)
    print("natsenv self-test passed")
