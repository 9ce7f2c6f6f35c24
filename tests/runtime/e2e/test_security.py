"""End-to-end tests of the runtime's security, with real processes.

CURVE-secured links: a real `allot master` with --curve-key and
--curve-clients, `allot agent` and framework processes with keys from
`allot keygen`, clients that must be kept out (a key not listed, no key, the
wrong master key, plain garbage), and a failover between two masters with
one key pair behind a real ZooKeeper.

HTTPS: a master and a standby serving their HTTP port over TLS (a
certificate from `openssl req`), read and written by `allot state`,
`allot weight` and Python's ssl, and the standby's redirect to the leader.

    /usr/bin/python3 -m pytest -v tests/runtime/e2e/test_security.py
"""

import json
import os
import ssl
import stat
import subprocess
import urllib.error
import urllib.request

import pytest

from test_e2e import (ALLOT, GARBAGE, Cluster, Process, check_one_terminal_each, free_port,
                      managed, run_allot, wait_for)
from test_ha import HaCluster, Master, zookeeper  # noqa: F401 (zookeeper: a fixture)
from test_web_ui import Reader


def keygen(path, *extra):
    """Runs `allot keygen PATH`; returns its public key."""
    r = subprocess.run([ALLOT, "keygen", path, *extra], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip()
    assert len(key) == 40, r.stdout
    return key


class CurveCluster(Cluster):
    """A cluster whose master admits the keys of its clients file."""

    def __init__(self, directory):
        super().__init__(directory)
        self.master_key = os.path.join(directory, "master.key")
        self.master_public = keygen(self.master_key)
        self.master_pub = os.path.join(directory, "master.pub")  # what clients are given
        with open(self.master_pub, "w") as f:
            f.write(self.master_public + "\n")
        self.clients = os.path.join(directory, "clients")
        with open(self.clients, "w") as f:
            f.write("# admitted clients\n")
        self.agent_flags = {}  # index -> extra flags
        self.acls = None  # path of an --acls file

    def admit(self, name):
        """Makes a key pair NAME.key, lists it in the clients file; returns
        its path."""
        path = os.path.join(self.dir, f"{name}.key")
        public = keygen(path)
        with open(self.clients, "a") as f:
            f.write(f"{public} {name}\n")
        return path

    def master_args(self):
        return super().master_args() + ["--curve-key", self.master_key,
                                        "--curve-clients", self.clients] + (
                                            ["--acls", self.acls] if self.acls else [])

    def agent_args(self, i, resources):
        if i not in self.agent_flags:
            self.agent_flags[i] = ["--master-key", self.master_pub,
                                   "--curve-key", self.admit(f"agent{i}")]
        return super().agent_args(i, resources) + self.agent_flags[i]

    def log_has(self, process, text):
        with open(process.log, errors="replace") as f:
            return text in f.read()


@pytest.fixture
def cluster(request, tmp_path):
    yield from managed(request, CurveCluster(str(tmp_path)))


def test_secured_cluster_runs_tasks_and_keeps_strangers_out(cluster):
    """Agents and a framework with admitted keys run 40 tasks over CURVE. An
    agent whose key is not listed, one without --master-key and a framework
    with the wrong master key get nowhere, each told why, and so does a
    plain garbage sender; the master keeps running and counts them. Listing
    the refused agent's key admits it without a restart."""
    cluster.start(agents=2)
    framework = cluster.framework("secure", tasks=40, command="true", cpus=0.1, mem=16,
                                  master_key=cluster.master_public,
                                  curve_key=cluster.admit("framework"), timeout=90).start()
    assert framework.wait_exit(120) == 0
    finals = check_one_terminal_each(framework, 40)
    assert set(finals.values()) == {"TASK_FINISHED"}

    # An agent with a key of its own that the master does not list.
    stranger_key = os.path.join(cluster.dir, "stranger.key")
    stranger_public = keygen(stranger_key)
    cluster.agent_flags[2] = ["--master-key", cluster.master_public, "--curve-key", stranger_key]
    stranger = cluster.start_agent(2)
    # An agent that does not use CURVE at all.
    cluster.agent_flags[3] = []
    plain = cluster.start_agent(3)
    # A framework that takes another key for the master's.
    wrong = cluster.framework("wrong-master-key", tasks=1, command="true", cpus=0.1, mem=16,
                              master_key=keygen(os.path.join(cluster.dir, "other.key")),
                              curve_key=cluster.admit("wrong"), timeout=3).start()

    wait_for(lambda: cluster.log_has(stranger, "refused this client's key"), 15,
             "the stranger agent told it is refused", cluster)
    wait_for(lambda: cluster.log_has(plain, "the master uses CURVE; pass its public key with "
                                            "--master-key"), 15,
             "the plain agent told to use --master-key", cluster)
    assert wrong.wait_exit(30) == 2  # its --timeout: never subscribed
    assert cluster.log_has(wrong.process, "the secure handshake with the master at")
    assert cluster.log_has(wrong.process, "is --master-key the master's public key?")
    assert cluster.log_has(cluster.master,
                           f"refused a CURVE client at 127.0.0.1: its key {stranger_public} is "
                           f"not in {cluster.clients}")

    # Garbage from a plain socket never reaches the master's message handling.
    r = subprocess.run([GARBAGE, "--master", cluster.master_address, "--wait-ms", "300"],
                       capture_output=True, text=True, timeout=120)
    report = json.loads(r.stdout)
    assert r.returncode == 1 and not report["ok"]  # none of its cases was answered...
    assert report["cases"] and all(c["code"] is None for c in report["cases"]), report
    assert cluster.healthy()
    state = cluster.state()
    assert {a["id"] for a in state["agents"]} == {cluster.agent_id(0), cluster.agent_id(1)}
    curve = state["curve"]
    assert curve["enabled"] and curve["public_key"] == cluster.master_public
    assert curve["refused"] >= 1
    assert curve["admitted"] >= 3  # two agents and the framework
    assert curve["failed_handshakes"] >= 2  # the plain agent, the wrong key, the garbage
    metrics = cluster.http("/metrics")[1].decode()
    assert 'allot_master_curve_clients_total{result="refused"}' in metrics
    assert state["counts"]["frameworks"] == 0  # the wrong-key framework never subscribed

    # Admitted without a restart: the stranger, retrying, registers.
    with open(cluster.clients, "a") as f:
        f.write(f"{stranger_public} late-agent\n")
    cluster.wait_agents({cluster.agent_id(2)}, timeout=20)
    assert cluster.master.alive()
    assert cluster.agent_id(3) not in cluster.active_agents()

    # The web UI says the links are CURVE's, and how many keys were refused.
    reader = Reader(f"http://127.0.0.1:{cluster.http_port}/", cluster.dir)
    try:
        refused = cluster.state()["curve"]["refused"]
        assert reader.first["links"] == f"CURVE, {refused} refused", reader.first
        assert reader.first["links_open"] is False
    finally:
        reader.close()


def test_keys_bind_principals_and_agent_ids(cluster):
    """With a clients file, a key's name is its framework's principal and the
    agent id it registered: another admitted key can neither fail a
    framework over nor register an agent as someone else, nor claim another
    principal; the owners are not disturbed, and the agent's binding
    survives a master restart."""
    cluster.start(agents=1)
    alpha = cluster.framework("alpha", tasks=1, command="sleep 30", cpus=0.5, mem=16,
                              master_key=cluster.master_public, curve_key=cluster.admit("alpha"),
                              no_teardown=True, timeout=60).start()
    alpha.wait_running(1)
    framework_id = open(alpha.id_file).read().strip()
    state = cluster.state()
    assert [f["principal"] for f in state["frameworks"]] == ["alpha"], state["frameworks"]

    # Mallory's admitted key, taking alpha's framework id.
    with open(os.path.join(cluster.dir, "mallory.id"), "w") as f:
        f.write(framework_id + "\n")
    mallory_key = cluster.admit("mallory")
    thief = cluster.framework("mallory", tasks=1, command="true", cpus=0.1, mem=16,
                              master_key=cluster.master_public, curve_key=mallory_key,
                              id_file=os.path.join(cluster.dir, "mallory.id"),
                              timeout=3).start()
    # ...and claiming a principal not its own.
    liar = cluster.framework("liar", tasks=1, command="true", cpus=0.1, mem=16,
                             master_key=cluster.master_public, curve_key=mallory_key,
                             principal="alpha", timeout=3).start()
    # An admitted agent key registering as agent 0.
    cluster.agent_flags[5] = ["--master-key", cluster.master_pub,
                              "--curve-key", cluster.admit("agent5")]
    args = cluster.agent_args(5, "cpus:1;mem:64")
    args[args.index("--id") + 1] = cluster.agent_id(0)
    impostor = cluster.spawn("impostor", args)

    assert thief.wait_exit(30) == 2 and liar.wait_exit(30) == 2
    errors = [e["message"] for e in thief.events() if e["event"] == "error"]
    assert any(f"NOT_AUTHORIZED: framework.framework_id: framework '{framework_id}' belongs to "
               "principal 'alpha'; this connection's CURVE key is 'mallory'" in m
               for m in errors), errors
    errors = [e["message"] for e in liar.events() if e["event"] == "error"]
    assert any("NOT_AUTHORIZED: framework.principal: principal 'alpha' is not this "
               "connection's CURVE key, 'mallory'" in m for m in errors), errors
    wait_for(lambda: cluster.log_has(impostor, f"agent '{cluster.agent_id(0)}' registered with "
                                               "the CURVE key 'agent0'; this connection's key "
                                               "is 'agent5'"),
             15, "the impostor agent refused", cluster)
    impostor.stop()

    # The owners carry on: alpha's framework still subscribed from its own
    # connection, with its task; agent 0 active, not replaced.
    state = cluster.state()
    assert [(f["id"], f["active"]) for f in state["frameworks"]] == [(framework_id, True)], state
    assert cluster.agent_id(0) in cluster.active_agents()
    assert cluster.agents[0].alive()
    assert [t["state"] for t in state["tasks"]] == ["TASK_RUNNING"], state["tasks"]

    # The registry keeps the binding: with agent 0 gone and the master
    # restarted, the impostor still cannot take its id.
    cluster.agents[0].kill9()
    cluster.master.kill9()
    cluster.start_master()
    impostor = cluster.spawn("impostor.2", args)
    wait_for(lambda: cluster.log_has(impostor, f"agent '{cluster.agent_id(0)}' registered with "
                                               "the CURVE key 'agent0'"),
             15, "the impostor refused after the master's restart", cluster)
    assert cluster.agent_id(0) not in cluster.active_agents()
    impostor.stop()


def write_acls(path, agents):
    """ACLs: only principal alpha, in role analytics, as user nobody; agents
    only with the named keys."""
    with open(path, "w") as f:
        json.dump({"permissive": False,
                   "register_frameworks": [{"principals": {"values": ["alpha"]},
                                            "roles": {"values": ["analytics"]}}],
                   "run_tasks": [{"principals": {"values": ["alpha"]},
                                  "users": {"values": ["nobody"]}}],
                   "register_agents": [{"principals": {"values": agents},
                                        "agents": {"type": "ANY"}}]}, f, indent=1)


def test_acls_bind_principals_to_roles_users_and_agents(cluster):
    """--acls over CURVE: an admitted key's name is the principal the ACLs
    judge. Alpha runs its tasks in its role as its user; beta's admitted key
    may not register a framework in that role, alpha may not run tasks as
    root, and an admitted agent key that the ACLs do not name is kept out
    until the file names it (no restart). Each is told why; the master
    counts them."""
    cluster.acls = os.path.join(cluster.dir, "acls.json")
    write_acls(cluster.acls, ["agent0"])
    cluster.start(agents=1)
    alpha_key = cluster.admit("alpha")
    alpha = cluster.framework("alpha", tasks=5, command="true", cpus=0.1, mem=16,
                              role="analytics", user="nobody",
                              master_key=cluster.master_public, curve_key=alpha_key,
                              timeout=60).start()
    beta = cluster.framework("beta", tasks=1, command="true", cpus=0.1, mem=16,
                             role="analytics", master_key=cluster.master_public,
                             curve_key=cluster.admit("beta"), timeout=4).start()
    root = cluster.framework("alpha-root", tasks=1, command="true", cpus=0.1, mem=16,
                             role="analytics", user="root", master_key=cluster.master_public,
                             curve_key=alpha_key, timeout=60).start()
    # Agent 1's key is admitted by the clients file, but the ACLs do not name it.
    late = cluster.start_agent(1)

    assert alpha.wait_exit(90) == 0
    assert set(check_one_terminal_each(alpha, 5).values()) == {"TASK_FINISHED"}
    assert beta.wait_exit(30) == 2  # its --timeout: never subscribed
    errors = [e["message"] for e in beta.events() if e["event"] == "error"]
    assert any("NOT_AUTHORIZED: framework.role: principal 'beta' may not register frameworks "
               f"in role 'analytics' (--acls {cluster.acls}: no rule matched and the ACLs are "
               "not permissive)" in m for m in errors), errors
    root.wait_exit(30)
    [update] = root.updates()
    assert update["state"] == "TASK_ERROR" and update["reason"] == "NOT_AUTHORIZED", update
    assert update["message"] == ("principal 'alpha' may not run tasks as user 'root' (--acls "
                                 f"{cluster.acls}: no rule matched and the ACLs are not "
                                 "permissive)"), update
    wait_for(lambda: cluster.log_has(late, "principal 'agent1' may not register agents"), 15,
             "agent 1 told the ACLs refuse it", cluster)
    assert cluster.agent_id(1) not in cluster.active_agents()

    # The operator names agent 1's key: it gets in at its next attempt.
    write_acls(cluster.acls, ["agent0", "agent1"])
    cluster.wait_agents([cluster.agent_id(0), cluster.agent_id(1)], timeout=20)

    state = cluster.state()
    acls = state["acls"]
    assert acls["enabled"] and acls["file"] == cluster.acls and not acls["permissive"]
    assert acls["rules"] == {"register_frameworks": 1, "run_tasks": 1, "register_agents": 1}
    assert acls["denied"]["register_frameworks"] >= 1  # beta, each time it tries
    assert acls["denied"]["run_tasks"] == 1
    assert acls["denied"]["register_agents"] >= 1
    metrics = cluster.http("/metrics")[1].decode()
    assert 'allot_master_acl_denials_total{acl="run_tasks"} 1' in metrics
    assert cluster.log_has(cluster.master, "master: ACLs of " + cluster.acls + ": 3 rule(s), "
                                           "not permissive")

    # The web UI's header counts the refusals.
    reader = Reader(f"http://127.0.0.1:{cluster.http_port}/", cluster.dir)
    try:
        state = cluster.state()
        denied = sum(state["acls"]["denied"].values())
        assert reader.first["links"] == (f"CURVE, {state['curve']['refused']} refused; ACLs, "
                                         f"{denied} denied"), reader.first
    finally:
        reader.close()


def test_flags_that_need_each_other_and_key_files(tmp_path):
    """The CURVE flags refuse half a set-up before anything binds, naming
    what is missing, and keygen keeps existing keys private."""

    def allot(*args):
        return subprocess.run([ALLOT, *args], capture_output=True, text=True, timeout=30)

    key = str(tmp_path / "m.key")
    public = keygen(key)
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    r = allot("keygen", key)
    assert r.returncode != 0 and "pass --force to replace it" in r.stderr
    replaced = json.loads(allot("keygen", key, "--force", "--json").stdout)
    assert replaced["file"] == key and replaced["public_key"] != public

    base = ["master", "--no-registry", "--port", "0", "--http-port", "-1"]
    cases = [
        (base + ["--curve-key", key], "--curve-key needs either --curve-clients FILE"),
        (base + ["--curve-clients", key], "--curve-clients needs --curve-key"),
        (base + ["--curve-key", str(tmp_path / "missing"), "--curve-allow-any"],
         "--curve-key " + str(tmp_path / "missing") + ": cannot read it"),
        (["agent", "--master", "127.0.0.1:1", "--curve-key", key],
         "--curve-key needs --master-key"),
        (["run", "--master", "127.0.0.1:1", "--master-key", "short", "--", "true"],
         "--master-key 'short': neither a public key"),
    ]
    bad_clients = tmp_path / "clients"
    bad_clients.write_text("# ok\nnot-a-key agent\n")
    cases.append((base + ["--curve-key", key, "--curve-clients", str(bad_clients)],
                  f"--curve-clients {bad_clients}:2: 'not-a-key' is not a public key"))
    for args, message in cases:
        r = allot(*args)
        assert r.returncode != 0, args
        assert message in r.stderr, (args, r.stderr)


class CurveHaCluster(HaCluster, CurveCluster):
    """Masters behind ZooKeeper that share one key pair and clients file;
    agents and frameworks follow the leader over CURVE."""


@pytest.fixture
def curve_ha(request, tmp_path, zookeeper):
    yield from managed(request, CurveHaCluster(str(tmp_path), zookeeper))


def test_failover_keeps_secured_agents_and_frameworks(curve_ha):
    """Masters A and B with the same --curve-key behind one ZooKeeper path:
    kill -9 of A while a framework's tasks run; B leads, the agents and the
    framework reconnect to it over CURVE with the keys they had, and every
    task finishes once."""
    ha = curve_ha
    ha.start_master("a")
    ha.wait_leads("a", 20)
    ha.start_master("b")
    ha.wait_standby("b", leader="a")
    ha.use("a")
    for i in range(2):
        ha.start_agent(i)
    agents = [ha.agent_id(i) for i in range(2)]
    ha.wait_agents(agents, timeout=20)
    fw = ha.framework("secure-failover", tasks=4, command="sleep 6", cpus=1.5, mem=32,
                      reconcile_interval=0.5, timeout=120, master_key=ha.master_public,
                      curve_key=ha.admit("framework")).start()
    fw.wait_running(4, timeout=30)

    ha.masters["a"].process.kill9()
    ha.wait_leads("b", 12)
    ha.use("b")
    ha.wait_agents(agents, timeout=15)
    assert fw.wait_exit(90) == 0, ha.diagnostics()
    final = check_one_terminal_each(fw, 4)
    assert set(final.values()) == {"TASK_FINISHED"}, final
    subs = [e for e in fw.events() if e["event"] == "subscribed"]
    assert len(subs) >= 2 and subs[-1]["again"], subs
    curve = ha.state()["curve"]
    assert curve["enabled"] and curve["refused"] == 0 and curve["admitted"] >= 3, curve
    for i in range(2):
        assert ha.log_has(ha.agents[i], "secure connection (CURVE) with the master at "
                          + ha.masters["b"].endpoint), ha.agents[i].tail()


# ---------------------------------------------------------------------------
# HTTPS


def make_certificate(directory):
    """A self-signed certificate for 127.0.0.1 (and its key), from openssl."""
    cert, key = os.path.join(directory, "tls.pem"), os.path.join(directory, "tls.key")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return cert, key


def healthy_over_https(port, cafile, status=200):
    """True once https://127.0.0.1:PORT/health answers STATUS."""
    try:
        return https_get(port, "/health", cafile)[0] == status
    except (OSError, ssl.SSLError):
        return False


def https_get(port, path, cafile):
    """(status, body) of GET https://127.0.0.1:PORT/PATH, trusting CAFILE,
    without following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile)),
        NoRedirect)
    try:
        with opener.open(f"https://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_https_api_for_readers_operators_and_the_ui(tmp_path):
    """A master with --http-tls-cert serves the state, metrics, the web UI
    and operator calls over HTTPS only: `allot state` and `allot weight`
    (with the operator token) reach it given the CA, refuse it without,
    and a plain-HTTP request gets no answer."""
    cert, key = make_certificate(str(tmp_path))
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    token.chmod(0o600)
    port, http_port = free_port(), free_port()
    master = Process("master", [ALLOT, "master", "--no-registry", "--host", "127.0.0.1",
                                "--port", str(port), "--http-port", str(http_port),
                                "--http-tls-cert", cert, "--http-tls-key", key,
                                "--operator-token-file", str(token)], str(tmp_path))
    try:
        wait_for(lambda: healthy_over_https(http_port, cert), 15, "the master's /health over HTTPS")
        status, _, body = https_get(http_port, "/", cert)
        assert status == 200 and b"<html" in body.lower()
        status, _, body = https_get(http_port, "/metrics", cert)
        assert status == 200 and b"allot_master_" in body
        with pytest.raises(Exception):  # plain HTTP on the HTTPS port: no answer
            urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=5).read()

        https = f"https://127.0.0.1:{http_port}"
        r = run_allot("state", "--master", https, "--ca-file", cert)
        assert r.returncode == 0 and "agents 0" in r.stdout, r.stdout + r.stderr
        r = run_allot("state", "--master", https)
        assert r.returncode != 0 and "pass its CA with --ca-file" in r.stderr, r.stderr
        r = run_allot("state", "--master", f"127.0.0.1:{http_port}")
        assert r.returncode != 0 and "use --master https://" in r.stderr, r.stderr
        r = run_allot("state", "--master", f"127.0.0.1:{http_port}", "--ca-file", cert)
        assert r.returncode != 0 and "is not https://" in r.stderr, r.stderr
        r = run_allot("weight", "ops", "3", "--master", https, "--ca-file", cert)
        assert r.returncode != 0 and "401" in r.stderr, r.stderr
        r = run_allot("weight", "ops", "3", "--master", https, "--ca-file", cert,
                      "--token-file", str(token), "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        assert json.loads(r.stdout)["weight"] == 3
        state = json.loads(https_get(http_port, "/api/v1/state?only=roles", cert)[2])
        assert {x["name"]: x["weight"] for x in state["roles"]}.get("ops") == 3, state
        assert "HTTPS port" in open(master.log).read()
    finally:
        master.stop()


def test_https_standby_redirects_to_the_leader_over_https(tmp_path, zookeeper):
    """Two masters with one certificate behind ZooKeeper: the leader
    announces an https:// address, the standby answers /health 503 and
    redirects (307) to https://LEADER, and `allot agents --master zk://...`
    reaches the leader over HTTPS with the CA."""
    cert, key = make_certificate(str(tmp_path))
    masters = {}
    for name in ("a", "b"):
        m = Master(name, str(tmp_path))
        m.process = Process(f"master-{name}", [
            ALLOT, "master", "--zk", zookeeper.url(), "--zk-session-timeout", "2s",
            "--host", "127.0.0.1", "--port", str(m.port), "--http-port", str(m.http_port),
            "--http-tls-cert", cert, "--http-tls-key", key], str(tmp_path))
        masters[name] = m
        if name == "a":
            wait_for(lambda: healthy_over_https(m.http_port, cert), 20, "A to lead")
    try:
        b = masters["b"]
        wait_for(lambda: healthy_over_https(b.http_port, cert, 503), 20, "B to stand by")
        status, headers, body = https_get(b.http_port, "/api/v1/state?only=", cert)
        assert status == 307, (status, body)
        leader = f"https://127.0.0.1:{masters['a'].http_port}"
        assert headers["Location"] == f"{leader}/api/v1/state?only=", dict(headers)
        assert json.loads(https_get(b.http_port, "/health", cert)[2])["leader"]["http"] == leader
        r = run_allot("agents", "--master", zookeeper.url(), "--ca-file", cert, "--json")
        assert r.returncode == 0 and json.loads(r.stdout) == [], r.stdout + r.stderr
        r = run_allot("agents", "--master", f"https://127.0.0.1:{b.http_port}", "--ca-file", cert,
                      "--json")  # through the standby's redirect
        assert r.returncode == 0 and json.loads(r.stdout) == [], r.stdout + r.stderr
    finally:
        for m in masters.values():
            m.process.stop()
