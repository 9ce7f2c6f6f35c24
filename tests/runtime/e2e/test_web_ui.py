"""The master's web UI in a real browser: a real master and agents on
loopback (the e2e suite's Cluster), Debian's Chromium driven by playwright-core
through ui_reader.mjs, which answers each command on stdin with what the page
shows, as one JSON line. What the page shows is compared with the master's own
/api/v1/state and /api/v1/utilization.

Needs Chromium (/usr/bin/chromium, or $CHROMIUM) and playwright-core in the
repository's node_modules: `./x test` installs both."""

import glob
import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from test_e2e import ALLOT, HERE, SOURCE, Cluster, managed, run_allot, wait_for

READER = os.path.join(HERE, "ui_reader.mjs")
NODE = os.environ.get("NODE", shutil.which("node") or "/usr/bin/node")
HOSTILE_HOST = '<img src=x onerror="window.__allot_xss=1">'
HOSTILE_TASK = "<script>window.__allot_xss=2</script>"
# Names of a directory and a file the hostile task leaves in its sandbox.
HOSTILE_DIR = "<i>dir"
HOSTILE_FILE = '<img src=x onerror="window.__allot_xss=3">'


class UiCluster(Cluster):
    """Samples the cluster's use every 200 ms, so that the chart has points
    within a second."""

    def master_args(self):
        return super().master_args() + ["--utilization-interval", "200ms"]


class Reader:
    """ui_reader.mjs: one command per line in, one JSON object per line out."""

    def __init__(self, url, out_dir):
        missing = [p for p in (NODE, os.environ.get("CHROMIUM", "/usr/bin/chromium"))
                   if not os.path.exists(p)]
        if missing or not os.path.isdir(os.path.join(SOURCE, "node_modules", "playwright-core")):
            pytest.fail(f"browser test needs node, Chromium and playwright-core "
                        f"(missing: {missing or 'node_modules/playwright-core'}); "
                        f"./x test installs them")
        self.stderr_path = os.path.join(out_dir, "ui_reader.stderr")
        self.stderr = open(self.stderr_path, "wb")
        self.popen = subprocess.Popen([NODE, READER, url, out_dir], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.first = self._answer(60)

    def _answer(self, timeout):
        line = []
        reader = threading.Thread(target=lambda: line.append(self.popen.stdout.readline()))
        reader.start()
        reader.join(timeout)
        if not line or not line[0]:
            self.close()
            with open(self.stderr_path, errors="replace") as f:
                pytest.fail(f"ui_reader.mjs gave no answer in {timeout} s; its stderr:\n{f.read()}")
        answer = json.loads(line[0])
        assert answer.get("phase") != "exception", answer
        return answer

    def ask(self, command, timeout=60):
        self.popen.stdin.write(command + "\n")
        self.popen.stdin.flush()
        return self._answer(timeout)

    def close(self):
        if self.popen.poll() is None:
            try:
                self.popen.stdin.write("quit\n")
                self.popen.stdin.flush()
                self.popen.wait(15)
            except (OSError, subprocess.TimeoutExpired):
                self.popen.kill()
                self.popen.wait()
        self.stderr.close()


@pytest.fixture
def ui_cluster(request, tmp_path):
    yield from managed(request, UiCluster(str(tmp_path)))


def rows(obs, table):
    """{data-id: [cell texts]} of one table."""
    return {row_id: cells for row_id, cells in obs["tables"][table]}


COLUMNS = {
    "agents-table": ["id", "hostname", "status", "tasks", "total", "reserved", "used", "offered",
                     "free", "attributes", "last_seen"],
    "roles-table": ["name", "weight", "guarantee", "limit", "frameworks", "allocated", "share"],
    "frameworks-table": ["id", "name", "role", "user", "active", "suppressed", "tasks", "offers",
                         "pending_updates"],
    "removed-frameworks-table": ["id", "name", "role", "user", "removed", "tasks_killed",
                                 "reason"],
    "tasks-table": ["id", "name", "state", "framework_id", "agent_id", "resources", "updated",
                    "logs"],
    "completed-table": ["id", "name", "state", "framework_id", "agent_id", "message", "updated",
                        "logs"],
}


def cell(obs, table, row_id, key):
    return rows(obs, table)[row_id][COLUMNS[table].index(key)]


def run_task(c, name, script):
    """`allot run --name NAME -- sh -c SCRIPT` on cluster C, once its task
    runs: (the process, the task's id)."""
    process = c.spawn(f"run-{name}", [ALLOT, "run", "--master", c.master_address, "--name", name,
                                      "--cpus", "0.1", "--mem", "32", "--", "sh", "-c", script])
    wait_for(lambda: any(t["name"] == name and t["state"] == "TASK_RUNNING"
                         for t in c.state()["tasks"]), 30, f"the task {name} running", c)
    (task_id,) = [t["id"] for t in c.state()["tasks"] if t["name"] == name]
    return process, task_id


def observe_until(reader, predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        obs = reader.ask("observe")
        if predicate(obs):
            return obs
        if time.monotonic() > deadline:
            pytest.fail(f"the page did not show {what} within {timeout} s; it showed "
                        f"{json.dumps(obs)[:3000]}")
        time.sleep(0.2)


def percent_text(dim, used, total):
    def num(x):
        return f"{x:.2f}".rstrip("0").rstrip(".")
    return f"{dim} {100 * used / total:.1f}% used ({num(used)} of {num(total)})"


def test_web_ui_shows_the_cluster_and_survives_a_master_restart(ui_cluster, tmp_path):
    """The UI lists what the master knows, shows hostile names as text, charts
    the use of CPUs and memory as the master sampled it, filters and sorts, and
    keeps its last data with a banner while the master is down."""
    c = ui_cluster
    c.start(agents=2)
    # A third agent whose hostname is markup: the page must print it.
    hostile = c.spawn("agent-hostile", [
        ALLOT, "agent", "--master", c.master_address, "--id", "e2e-agent-x",
        "--hostname", HOSTILE_HOST, "--attributes", "rack:r<b>1</b>",
        "--work-dir", os.path.join(c.dir, "agent-x"), "--resources", "cpus:4;mem:4096",
        "--cgroup-root", "none"])
    c.wait_agents(["e2e-agent-0", "e2e-agent-1", "e2e-agent-x"])
    # A task whose name is a script, finished; another running throughout.
    done = subprocess.run([ALLOT, "run", "--master", c.master_address, "--name", HOSTILE_TASK,
                           "--cpus", "0.5", "--mem", "32", "--", "sh", "-c",
                           'echo "$0"; mkdir -p "out/$1" && echo hi > "out/$1/$2"',
                           HOSTILE_TASK, HOSTILE_DIR, HOSTILE_FILE],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    # With a health check, which the tasks table shows after the state.
    sleeper = c.spawn("run-sleeper", [ALLOT, "run", "--master", c.master_address, "--name",
                                      "sleeper", "--cpus", "1.5", "--mem", "256",
                                      "--health-cmd", "true", "--health-delay", "0", "--",
                                      "sleep", "600"])
    wait_for(lambda: any(t["name"] == "sleeper" and t["state"] == "TASK_RUNNING" and
                         t.get("healthy") is True for t in c.state()["tasks"]), 30,
             "the sleeper running and healthy", c)
    # Operator settings, for the reserved and quota columns.
    for args in (("reserve", "e2e-agent-1", "cpus(web):1;mem(web):512"),
                 ("quota", "web", "--limit", "cpus:2;mem:1024"), ("weight", "web", "2")):
        set_ = subprocess.run([ALLOT, *args, "--master", f"127.0.0.1:{c.http_port}"],
                              capture_output=True, text=True, timeout=30)
        assert set_.returncode == 0, set_.stdout + set_.stderr

    reader = Reader(f"http://127.0.0.1:{c.http_port}/", str(tmp_path))
    try:
        first = reader.first
        assert first["phase"] == "loaded"
        assert first["title"] == "allot master"
        state = c.state()
        assert first["master_id"] == state["master_id"]
        assert first["policy"] == state["policy"] == "drf"
        # The master's SQLite file, with every change stored.
        assert state["registry"]["stored"] is True
        assert state["registry"]["where"].endswith("registry.sqlite"), state["registry"]
        assert first["registry"] == state["registry"]["where"]
        # Plain links, marked as open to anyone.
        assert state["curve"] == {"enabled": False}
        assert first["links"] == "plain TCP" and first["links_open"] is True

        # Sampled every 200 ms: wait until the page's chart has the sleeper's
        # 1.5 cpus as used, on 12 cpus in all.
        want_cpus = percent_text("cpus", 1.5, 12)
        obs = observe_until(reader, lambda o: o["legend"].get("cpus") == want_cpus, 20,
                            f"the legend {want_cpus!r}")
        util = json.loads(c.http("/api/v1/utilization")[1])
        last = util["samples"][-1]
        dims = util["dimensions"]
        mem = dims.index("mem")
        assert last["used"][mem] == 256 and last["total"][mem] == 3 * 4096, last
        assert obs["legend"]["mem"] == percent_text("mem", 256, 3 * 4096)
        assert "gpus" not in obs["legend"], "a dimension the cluster does not have is drawn"
        lines = {(p["dim"], p["kind"]): p["points"] for p in obs["paths"]}
        assert lines[("cpus", "used")] >= 2 and lines[("mem", "used")] >= 2, obs["paths"]
        assert lines[("cpus", "used")] <= len(util["samples"]) + 1, (lines, len(util["samples"]))

        # Tables against the master's state.
        state = c.state()
        agents = rows(obs, "agents-table")
        assert set(agents) == {a["id"] for a in state["agents"]}
        assert cell(obs, "agents-table", "e2e-agent-x", "hostname") == HOSTILE_HOST
        assert cell(obs, "agents-table", "e2e-agent-x", "attributes") == "rack:r<b>1</b>"
        assert {cell(obs, "agents-table", a, "status") for a in agents} == {"active"}
        assert cell(obs, "agents-table", "e2e-agent-1", "reserved") == "cpus(web):1;mem(web):512"
        assert cell(obs, "agents-table", "e2e-agent-0", "reserved") == ""
        assert cell(obs, "agents-table", "e2e-agent-1", "total") == next(
            a["total"] for a in state["agents"] if a["id"] == "e2e-agent-1")
        assert set(rows(obs, "roles-table")) == {r["name"] for r in state["roles"]}
        assert [cell(obs, "roles-table", "web", k) for k in ("weight", "guarantee", "limit")] \
            == ["2", "", "cpus:2;mem:1024"]
        fws = {f["id"]: f for f in state["frameworks"]}
        assert set(rows(obs, "frameworks-table")) == set(fws)
        # Each tab asked only for its own lists; the whole state, never. The
        # Agents tab asked for one page of them.
        assert {q.split("&")[0] for q in obs["state_queries"]} == {
            "?only=", "?only=agents", "?only=frameworks,completed_frameworks", "?only=roles",
            "?only=tasks,completed_tasks", "?only=offers"}, obs["state_queries"]
        assert all("&agents_limit=200&" in q for q in obs["state_queries"]
                   if q.startswith("?only=agents")), obs["state_queries"]
        assert obs["agents_range"] == "1-3 of 3 agents", obs["agents_range"]
        running = {t["id"]: t for t in state["tasks"] if t["state"] == "TASK_RUNNING"}
        (sleeper_id,) = [i for i, t in running.items() if t["name"] == "sleeper"]
        assert cell(obs, "tasks-table", sleeper_id, "state") == "TASK_RUNNING, healthy"
        assert cell(obs, "tasks-table", sleeper_id, "agent_id") == running[sleeper_id]["agent_id"]
        hostile_done = [t for t in state["completed_tasks"] if t["name"] == HOSTILE_TASK]
        assert len(hostile_done) == 1, state["completed_tasks"]
        assert cell(obs, "completed-table", hostile_done[0]["id"], "name") == HOSTILE_TASK
        assert cell(obs, "completed-table", hostile_done[0]["id"], "state") == "TASK_FINISHED"
        # Its stdout, read from its agent through the master, shown as text
        # in the log view; its "raw" link opens the bytes as plain text.
        log = reader.ask(f"log completed-table {hostile_done[0]['id']} stdout")
        assert log["shown"] and log["error"] is None, log
        assert log["title"] == f"stdout of task {hostile_done[0]['id']}", log
        assert log["text"].strip() == HOSTILE_TASK and log["status"] == \
            f"{len(HOSTILE_TASK) + 1} bytes", log
        assert log["xss"] is None, "a task's output ran as script"
        raw = reader.ask("log-raw")
        assert raw["status"] == 200 and raw["content_type"] == "text/plain; charset=utf-8", raw
        assert raw["target"] == "_blank" and raw["text"].strip() == HOSTILE_TASK, raw
        assert raw["xss"] is None, "a task's output ran as script"
        assert cell(obs, "tasks-table", sleeper_id, "logs") == "stdout stderr files"
        # Its sandbox, listed by its agent through the master, browsed in
        # the page; the names the task chose are text, its file opens as text.
        task_id = hostile_done[0]["id"]
        view = reader.ask(f"sandbox completed-table {task_id}")
        assert view["shown"] and view["error"] is None, view
        assert view["title"] == f"Sandbox of task {task_id} on agent " + \
            hostile_done[0]["agent_id"], view
        assert [r[3] for r in view["rows"]] == ["out/", "stderr", "stdout"], view
        assert view["rows"][2][0] == "-rw-r--r--" or view["rows"][2][0].startswith("-rw"), view
        view = reader.ask("sandbox-open out")
        assert [r[3] for r in view["rows"]] == [f"{HOSTILE_DIR}/"], view
        view = reader.ask(f"sandbox-open {HOSTILE_DIR}")
        assert view["crumbs"] == f"sandbox / out / {HOSTILE_DIR}", view
        assert [r[3] for r in view["rows"]] == [HOSTILE_FILE], view
        assert view["rows"][0][1] == "3", view
        opened = reader.ask(f"sandbox-open {HOSTILE_FILE}")
        assert opened["shown"] and opened["text"] == "hi\n", opened
        assert opened["title"] == f"out/{HOSTILE_DIR}/{HOSTILE_FILE} of task {task_id}", opened
        assert opened["xss"] is None and view["xss"] is None, "a name in a sandbox ran as script"
        assert view["page_errors"] == [] and view["console_errors"] == [], view
        assert obs["cards"]["agents"]["value"] == "3"
        assert obs["cards"]["tasks"]["value"] == str(len(state["tasks"]))
        assert obs["xss"] is None, "markup from the API ran as script"

        # Filter and sort.
        only = reader.ask("filter e2e-agent-1")
        assert only["visible"]["agents-table"] == ["e2e-agent-1"], only
        cleared = reader.ask("filter ")
        assert len(cleared["visible"]["agents-table"]) == 3, cleared
        up = reader.ask("sort agents-table hostname")
        down = reader.ask("sort agents-table hostname")
        # The master sorts the agents, ties by id.
        by_host = sorted(state["agents"], key=lambda a: (a["hostname"], a["id"]))
        assert up["aria"] == "ascending" and up["ids"] == [a["id"] for a in by_host], up
        assert down["aria"] == "descending" and down["ids"] == up["ids"][::-1], down
        reader.ask("screenshot web-ui")
        calm = reader.ask("observe")
        assert calm["console_errors"] == [] and calm["page_errors"] == [], calm
        assert calm["failed_requests"] == [], calm["failed_requests"]

        # The master goes away: the page says so and keeps what it showed.
        c.master.kill9()
        gone = reader.ask("wait-error")
        assert gone["ok"], gone
        assert gone["status_text"].startswith("Cannot reach the master"), gone["status_text"]
        assert set(rows(gone, "agents-table")) == set(agents), "the last data was dropped"

        # Back on the same ports and registry: the page recovers by itself.
        c.start_master()
        back = reader.ask("wait-ok")
        assert back["ok"], back
        obs = observe_until(
            reader, lambda o: o["master_id"] == c.state()["master_id"] and
            set(rows(o, "agents-table")) == set(agents) and
            {cell(o, "agents-table", a, "status") for a in agents} == {"active"}, 30,
            "the restarted master's agents, active again")

        # Nothing on the way was an error in the browser but the outage's own
        # failed requests.
        assert obs["page_errors"] == [], obs["page_errors"]
        outage = [r for r in obs["failed_requests"] if "/api/v1/" not in r]
        assert outage == [], obs["failed_requests"]
        assert obs["xss"] is None
    finally:
        reader.close()
        sleeper.stop()
        hostile.stop()


def test_log_view_follows_a_file_as_it_grows_and_when_it_is_truncated(ui_cluster, tmp_path):
    """A running task's stdout opens in the log view and grows there as the
    task writes (every 2 s the page reads what was added); a file of its
    sandbox that is truncated (as a log rotated by copytruncate) is shown
    again from its new end. The output is markup, shown as text."""
    c = ui_cluster
    c.start(agents=1)
    script = ('i=0; while :; do i=$((i+1)); echo "tick $i <b>$i</b>"; echo "line $i" >> r.log; '
              'if [ -e rotate ]; then rm rotate; : > r.log; echo rotated >> r.log; fi; '
              'sleep 0.1; done')
    ticker, task_id = run_task(c, "ticker", script)
    reader = Reader(f"http://127.0.0.1:{c.http_port}/?refresh=300#/tasks", str(tmp_path))
    try:
        observe_until(reader, lambda o: task_id in rows(o, "tasks-table"), 15, "the ticker's row")
        log = reader.ask(f"log tasks-table {task_id} stdout")
        assert log["shown"] and log["error"] is None, log
        assert log["text"].startswith("tick 1 <b>1</b>\n"), log
        shown = int(log["text"].splitlines()[-1].split()[1])
        later = reader.ask(f"log-wait tick {shown + 20} ")
        assert later["found"], later
        ticks = [int(line.split()[1]) for line in later["text"].splitlines()]
        assert ticks == list(range(1, len(ticks) + 1)), "lines lost or repeated while following"
        assert later["status"].endswith(" bytes") and later["xss"] is None, later
        reader.ask("screenshot log-view")
        # r.log through the sandbox view, then truncated by the task.
        back = reader.ask(f"sandbox tasks-table {task_id}")
        assert "r.log" in [r[3] for r in back["rows"]], back
        view = reader.ask("sandbox-open r.log")
        assert view["title"] == f"r.log of task {task_id}" and view["text"].startswith("line"), view
        (path,) = glob.glob(os.path.join(c.dir, "**", "r.log"), recursive=True)
        sandbox = os.path.dirname(path)
        open(os.path.join(sandbox, "rotate"), "w").close()
        rotated = reader.ask("log-wait rotated")
        assert rotated["found"] and rotated["text"].startswith("rotated\n"), rotated
        assert rotated["page_errors"] == [] and rotated["console_errors"] == [], rotated
    finally:
        reader.close()
        ticker.stop()


def test_log_view_keeps_characters_cut_between_reads_whole(ui_cluster, tmp_path):
    """UTF-8 text read in pieces shows as written: the tail read starting
    inside a character (a '€' is 3 bytes) skips its rest, and a character
    the task has written only the first 2 bytes of waits for its last one
    instead of showing as U+FFFD."""
    c = ui_cluster
    c.start(agents=1)
    # 25,000 euros and "!\n": 75,002 bytes, so the last 64 KiB start 1 byte
    # into a euro. On `go`, "euro:" and 2 of the 3 bytes of a euro, and its
    # last byte 3 s later, after the page has read the first ones.
    script = (r"printf '\342\202\254%.0s' $(seq 25000); printf '!\n'; "
              r"while [ ! -e go ]; do sleep 0.1; done; printf 'euro:\342\202'; sleep 3; "
              r"printf '\254 done\n'; sleep 600")
    writer, task_id = run_task(c, "euros", script)

    def written():  # the task's stdout, once it holds the euros
        return [p for p in glob.glob(os.path.join(c.dir, "**", "stdout"), recursive=True)
                if os.path.getsize(p) == 75002]

    wait_for(written, 30, "the euros written", c)
    (path,) = written()
    reader = Reader(f"http://127.0.0.1:{c.http_port}/?refresh=300#/tasks", str(tmp_path))
    try:
        observe_until(reader, lambda o: task_id in rows(o, "tasks-table"), 15, "the euros' row")
        log = reader.ask(f"log tasks-table {task_id} stdout")
        # 65,536 bytes: 2 of a cut euro, 21,844 whole ones, "!\n".
        assert log["shown"] and log["text"] == "\u20ac" * 21844 + "!\n", \
            (log["status"], log["text"][:20], log["text"][-20:])
        open(os.path.join(os.path.dirname(path), "go"), "w").close()
        half = reader.ask("log-wait euro:")
        assert half["found"] and half["text"].endswith("!\neuro:"), half["text"][-20:]
        assert half["status"] == "75009 bytes", half["status"]  # the 2 bytes were read
        whole = reader.ask("log-wait done")
        assert whole["found"] and whole["text"].endswith("!\neuro:\u20ac done\n"), \
            whole["text"][-20:]
        assert "\ufffd" not in whole["text"]
        assert whole["page_errors"] == [] and whole["console_errors"] == [], whole
    finally:
        reader.close()
        writer.stop()


def test_frameworks_tab_lists_a_torn_down_framework_as_removed(ui_cluster, tmp_path):
    """After `allot teardown`, the Frameworks tab shows the framework among
    the removed ones, with why and how many tasks were killed, and no longer
    among the active; its task is among the completed ones, killed."""
    c = ui_cluster
    c.start(agents=1)
    run, _ = run_task(c, "doomed", "sleep 600")
    (framework,) = [f["id"] for f in c.state()["frameworks"]]
    reader = Reader(f"http://127.0.0.1:{c.http_port}/?refresh=300#/frameworks", str(tmp_path))
    try:
        observe_until(reader, lambda o: framework in rows(o, "frameworks-table"), 15,
                      "the framework active")
        done = run_allot("teardown", framework, "--master", f"127.0.0.1:{c.http_port}")
        assert done.returncode == 0, done.stderr
        shown = observe_until(reader, lambda o: framework in rows(o, "removed-frameworks-table"),
                              15, "the framework removed")
        assert framework not in rows(shown, "frameworks-table")
        assert cell(shown, "removed-frameworks-table", framework, "name") == "doomed"
        assert cell(shown, "removed-frameworks-table", framework, "reason") == \
            "torn down by an operator"
        assert cell(shown, "removed-frameworks-table", framework, "tasks_killed") == "1"
        assert shown["page_errors"] == [] and shown["console_errors"] == [], shown
        (task,) = [t["id"] for t in c.state()["completed_tasks"] if t["name"] == "doomed"]
        tasks = observe_until(reader, lambda o: task in rows(o, "completed-table"), 15,
                              "the killed task among the completed")
        assert cell(tasks, "completed-table", task, "state") == "TASK_KILLED"
    finally:
        reader.close()
        run.stop()


def test_agents_tab_pages_sorts_and_filters_on_the_master(ui_cluster, tmp_path):
    """With pages of 2 (?agents_page=2) and 3 agents, the Agents tab shows
    what the master's page holds: the first two by id, then the third;
    sorting and the filter ask the master again, from the first page."""
    c = ui_cluster
    c.start(agents=3)
    ids = sorted(c.agent_id(i) for i in range(3))
    reader = Reader(f"http://127.0.0.1:{c.http_port}/?agents_page=2#/agents", c.dir)
    try:
        first = observe_until(reader, lambda o: o["agents_range"] == "1-2 of 3 agents", 15,
                              "the first page of agents")
        assert [i for i, _ in first["tables"]["agents-table"]] == ids[:2]
        second = reader.ask("page next")
        assert second["range"] == "3-3 of 3 agents" and second["ids"] == ids[2:], second
        assert second["next_disabled"] and not second["prev_disabled"], second
        back = reader.ask("page prev")
        assert back["ids"] == ids[:2] and back["prev_disabled"], back
        # Sorted on the master: descending by id, from the first page.
        reader.ask("sort agents-table id")
        down = reader.ask("sort agents-table id")
        assert down["aria"] == "descending" and down["ids"] == ids[::-1][:2], down
        only = reader.ask(f"filter {ids[1]}")
        assert only["visible"]["agents-table"] == [ids[1]], only["visible"]
        assert only["agents_range"] == f'1-1 of 1 agents matching "{ids[1]}"', only
        none = reader.ask("filter no-such-agent")
        assert none["visible"]["agents-table"] == [], none["visible"]
        assert none["agents_range"] == 'no agents matching "no-such-agent"', none
        # Maintenance shows after the status (the page: ids[2], ids[1], by id
        # descending).
        reader.ask("filter ")
        done = run_allot("deactivate", ids[2], "--master", f"127.0.0.1:{c.http_port}")
        assert done.returncode == 0, done.stderr
        shown = observe_until(
            reader, lambda o: ids[2] in rows(o, "agents-table") and
            cell(o, "agents-table", ids[2], "status") == "active, deactivated", 15,
            "the deactivated agent")
        assert cell(shown, "agents-table", ids[1], "status") == "active"
        calm = reader.ask("observe")
        assert calm["console_errors"] == [] and calm["page_errors"] == [], calm
        assert calm["failed_requests"] == [], calm["failed_requests"]
    finally:
        reader.close()


def test_tables_sort_numbers_in_text_by_value():
    """The page's own sort (every table but the paged agents) orders
    "cpus:2;..." before "cpus:16;..." and "node9" before "node10", as the
    master's agents page does (naturalCompare in core/src/text.cc, whose unit
    test expects this same order). Run in node on app.js's own function."""
    app = os.path.join(SOURCE, "runtime", "src", "master", "ui", "app.js")
    script = """
const fs = require("fs");
const src = fs.readFileSync(process.argv[1], "utf8");
const start = src.indexOf("const NUMBER");
const end = src.indexOf("function compare(");
if (start < 0 || end < start) throw new Error("naturalCompare not found in app.js");
const naturalCompare = new Function(src.slice(start, end) + "; return naturalCompare;")();
const texts = JSON.parse(process.argv[2]);
texts.sort(naturalCompare);
console.log(JSON.stringify(texts));
"""
    texts = ["cpus:16;mem:32768", "node10", "cpus:2;mem:4096", "cpus:1.5;mem:1024",
             "cpus:2;mem:512", "node9", "cpus:0.25", "cpus:10", "cpus:1.25;mem:1024", "n1",
             "n01", "x100000000000000000000000", "x99999999999999999999999"]
    done = subprocess.run([NODE, "-e", script, app, json.dumps(texts)], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        "cpus:0.25", "cpus:1.25;mem:1024", "cpus:1.5;mem:1024", "cpus:2;mem:512",
        "cpus:2;mem:4096", "cpus:10", "cpus:16;mem:32768", "n01", "n1", "node9", "node10",
        "x99999999999999999999999", "x100000000000000000000000"]
