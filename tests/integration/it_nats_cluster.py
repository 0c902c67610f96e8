# SPDX-License-Identifier: MIT
# A session fanned out through a 3-node NATS JetStream cluster (natsenv.py:
# each node in a network namespace of its own, routed through a hub
# namespace; the test and every ringside it starts run in the hub, so no
# traffic ever leaves those namespaces).  The origin publishes to node 1
# into a stream with 3 replicas, two edges read from nodes 2 and 3, and
# node 1 is killed while 200,000 numbered lines flow: every client, at the
# origin and at both edges, must see each line exactly once, in order.
import os
import re
import select
import subprocess
import tempfile
import time

import harness
import natsenv
from harness import BASH, Client, TestFailure, check, free_port, test

LINES = 200000
# 200,000 numbered lines at about 25,000 a second: output is still flowing
# when the node dies 2.5 s in, and long after the cluster has recovered.
PRODUCER = ("python3 -u -c 'import sys, time\n"
            "for b in range(200):\n"
            "    sys.stdout.write(\"\".join(\"%d\\n\" % (b * 1000 + i) for i in range(1, 1001)))\n"
            "    sys.stdout.flush()\n"
            "    time.sleep(0.04)\n"
            "print(\"producer-\" + \"done\")'")
NUMBER = re.compile(rb"^(\d+)\r?$")


def probe_path():
    return os.path.join(os.path.dirname(os.path.abspath(harness.BIN)), "tests", "helpers", "natsprobe")


def cluster_or_skip(name, workdir):
    """A started cluster, or None after saying clearly why it cannot be made."""
    try:
        c = natsenv.Cluster(workdir=tempfile.mkdtemp(prefix="nats-", dir=workdir))
    except natsenv.Unavailable as e:
        print("SKIP %s: %s" % (name, e))
        return None
    return c.start()


def probe(c, args, nodes, timeout=60):
    r = subprocess.run(c.hub_cmd([probe_path(), c.urls(nodes)] + args), capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, (r.stdout + r.stderr).strip()


def stream_on_three(c, stream, nodes, timeout=30):
    """The stream's info once it has 3 replicas and both followers current.
    A follower behind the leader may not be able to take over: once, a leader
    killed 0.6 s after the stream was made had no successor in 20 s."""
    deadline = time.monotonic() + timeout
    while True:
        rc, out = probe(c, ["info", stream], nodes)
        if rc == 0 and "replicas=3" in out and "followers=2" in out and "current=2" in out:
            return out
        if time.monotonic() > deadline:
            raise TestFailure("the stream %s is not current on 3 nodes after %d s: %s" % (stream, timeout, out))
        time.sleep(0.5)


def numbers(data):
    """The numbered lines of a raw stream, in the order they arrived."""
    out = []
    for line in bytes(data).split(b"\n"):
        m = NUMBER.match(line)
        if m:
            out.append(int(m.group(1)))
    return out


def check_exactly_once(who, data, last):
    nums = numbers(data)
    check(b"bytes skipped]" not in data, "%s was skipped ahead (a gap marker)" % who)
    if nums == list(range(1, last + 1)):
        return
    seen, dups, prev, back = set(), 0, 0, 0
    for n in nums:
        dups += n in seen
        back += n <= prev
        seen.add(n)
        prev = n
    missing = [n for n in range(1, last + 1) if n not in seen]
    raise TestFailure("%s: %d lines, %d missing (first %s), %d repeated, %d out of order"
                      % (who, len(nums), len(missing), missing[:5], dups, back))


def pump_once(clients, wait):
    """One round: wait up to WAIT s for any client to have data, read what
    the ready ones have (harness.pump_all would read until all are quiet)."""
    p = select.poll()
    by_fd = {}
    for cl in clients:
        if not cl.eof:
            by_fd[cl.fileno()] = cl
            p.register(cl.fileno(), select.POLLIN)
    for fd, _ in p.poll(wait * 1000):
        by_fd[fd].pump()


class Edge(harness.LoggedProcess):
    """`ringside -edge URL,session=NAME -server tcp:port=P`: no program."""

    WHO = "the edge"

    def __init__(self, spec, port, extra=()):
        self.port = port
        super().__init__([harness.BIN, "-edge", spec, "-server", "tcp:port=%d" % port] + list(extra))
        harness.wait_listening(port)

    def log(self):
        self.pump()
        return self.stderr.decode(errors="replace")


@test
def test_nats_cluster_env_replicas3_survive_node_kill(workdir):
    """The environment itself (no ringside): a replicas-3 stream created
    through node 1, its leader killed while messages are published through
    the others, every message read back exactly once through a survivor; and
    the namespaces are gone afterwards."""
    c = cluster_or_skip("test_nats_cluster_env_replicas3_survive_node_kill", workdir)
    if c is None:
        return
    made = list(c.made)
    try:
        rc, out = probe(c, ["create", "ENV", "env.s", "3"], [0, 1, 2])
        check(rc == 0, out)
        rc, out = probe(c, ["publish", "env.s", "1", "500"], [0, 1, 2])
        check(rc == 0, out)
        out = stream_on_three(c, "ENV", [1, 2, 0])
        leader = int(re.search(r"leader=n(\d)", out).group(1)) - 1
        others = [j for j in range(3) if j != leader]
        pub = subprocess.Popen(c.hub_cmd([probe_path(), c.urls(others), "publish", "env.s", "501", "500"]),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(0.2)
        c.kill_node(leader)
        out, _ = pub.communicate(timeout=90)
        check(pub.returncode == 0, "publishing across the leader's death: " + out)
        rc, out = probe(c, ["check", "env.s", "1000", "30"], others)
        check(rc == 0, out)
    finally:
        c.close()
    left = [n for n in made if n in natsenv._netns_list()]
    check(not left, "namespaces left behind: %s" % left)


@test
def test_nats_cluster_node_kill_loses_nothing(workdir):
    c = cluster_or_skip("test_nats_cluster_node_kill_loses_nothing", workdir)
    if c is None:
        return
    session = "clu%d" % os.getpid()
    origin = None
    edges = []
    try:
        with c.inside():
            p0 = free_port()
            # replicas=3: the stream must live on all three nodes, or the
            # node kill below could take the only copy with it.
            origin = harness.Session(["tcp:port=%d" % p0], BASH, noio=True,
                                     extra=["-publish", "%s,session=%s,replicas=3" % (c.url(0), session)])
            try:
                harness.wait_listening(p0)
            except TestFailure:
                time.sleep(0.2)
                origin.pump()
                raise TestFailure("the origin did not start (-publish ...,replicas=3 is needed here): %s"
                                  % origin.stderr.decode(errors="replace").strip()[-300:])
            typist = Client(p0)
            typist.wait_for(r"\$ |# ")
            for i in (1, 2):
                edges.append(Edge("%s,session=%s,name=edge%d" % (c.url(i), session, i), free_port()))
            clients = {"origin": typist}
            for i, e in enumerate(edges, 1):
                for k in (1, 2):
                    clients["edge%d client %d" % (i, k)] = Client(e.port)
            # Every edge client is being fed before the output starts.
            typist.send_line("echo fed-$((6*7))")
            for who, cl in clients.items():
                cl.wait_for(r"fed-42", timeout=20)
            stream_on_three(c, "RINGSIDE_" + session, [1, 2, 0])
            typist.send_line(PRODUCER)
            t0 = time.monotonic()
            killed = False
            deadline = t0 + 90
            while time.monotonic() < deadline:
                pump_once(clients.values(), 0.05)
                for e in edges:
                    e.pump()        # its stderr is a pipe: never let it fill
                # Node 1 is the origin's: it must fail over to a node it
                # learnt from the cluster (it was given only node 1) and
                # resume publishing where the stream ends; if node 1 led
                # the stream, a new leader is elected meanwhile.
                if not killed and time.monotonic() - t0 > 2.5:
                    check(b"producer-done" not in typist.data, "output ended before the node was killed")
                    c.kill_node(0)
                    killed = True
                if all(b"producer-done" in cl.data[-200:] for cl in clients.values()):
                    break
            for who, cl in clients.items():
                check(b"producer-done" in cl.data,
                      "%s never got the end of the output (%d lines)%s" %
                      (who, len(numbers(cl.data)),
                       "" if who == "origin" else "; edge log: " + edges[int(who[4]) - 1].log()[-600:]))
            for who, cl in clients.items():
                check_exactly_once(who, cl.data, LINES)
            check(not c.node_alive(0), "node 1 was not down")
    finally:
        # Every process is stopped and the cluster taken down even when one
        # close finds a sanitizer report; the first such report fails the test.
        reports = []
        for p in edges + [origin]:
            try:
                if p is not None:
                    p.close()
            except TestFailure as e:
                reports.append(e)
        c.close()
        if reports:
            raise reports[0]
