#!/usr/bin/env python3
"""A framework written in Python: runs a shell command N times on an allot cluster,
one task per copy, as many at once as the offers fit, and exits when every copy
has ended (0 when all finished, 1 otherwise; 130 after Ctrl-C or SIGTERM, which
tear the framework down and so kill the copies still running).

    PYTHONPATH=build/dev/python:python /usr/bin/python3 examples/python_framework.py \\
        --master 127.0.0.1:5050 --tasks 4 --cpus 0.5 --mem 32 -- 'echo copy $ALLOT_TASK'

Each copy is told its index in ALLOT_TASK; its output is in its sandbox on the
agent (`allot logs TASK_ID`). Every status update is printed as it comes.
"""

import argparse
import sys

import allot


class CommandRunner(allot.Scheduler):
    def __init__(self, command, count, resources, prefix):
        self.command = command
        self.resources = resources           # {"cpus": ..., "mem": ...}
        self.pending = list(range(count))    # copies not launched yet
        self.active = set()                  # ids of the copies launched, not ended
        self.prefix = prefix
        self.failed = 0

    def registered(self, driver, framework_id, master_id):
        print(f"registered as {framework_id} with master {master_id}", flush=True)

    def resource_offers(self, driver, offers):
        for offer in offers:
            free = dict(offer.resources)
            tasks = []
            while self.pending and all(free.get(k, 0) >= v for k, v in self.resources.items()):
                i = self.pending.pop(0)
                for k, v in self.resources.items():
                    free[k] -= v
                tasks.append(allot.Task(f"{self.prefix}-{i}", self.command, self.resources,
                                        env={"ALLOT_TASK": str(i)}))
            if tasks:
                print(f"launching {', '.join(t.task_id for t in tasks)} on {offer.hostname}",
                      flush=True)
                self.active.update(t.task_id for t in tasks)
                driver.launch_tasks([offer], tasks)
            else:
                driver.decline_offer(offer, refuse_seconds=5)
        if not self.pending:
            driver.suppress_offers()

    def status_update(self, driver, status):
        detail = f" ({status.message})" if status.message else ""
        print(f"{status.task_id} {status.state}{detail}", flush=True)
        if not status.terminal or status.task_id not in self.active:
            return
        self.active.discard(status.task_id)
        if status.state != "TASK_FINISHED":
            self.failed += 1
        if not self.pending and not self.active:
            driver.stop(failover=False)   # done: nothing to keep at the master

    def error(self, driver, message):
        print(f"error from the master: {message}", file=sys.stderr, flush=True)
        if driver.removed:
            driver.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--master", default="127.0.0.1:5050", help="HOST:PORT of the master")
    parser.add_argument("--tasks", type=int, default=3, help="how many copies to run")
    parser.add_argument("--cpus", type=float, default=0.1, help="cpus of each copy")
    parser.add_argument("--mem", type=float, default=32, help="memory of each copy (MB)")
    parser.add_argument("--name", default="python-framework", help="framework name")
    parser.add_argument("--role", default="*", help="role to subscribe in")
    parser.add_argument("command", help="shell command each copy runs")
    args = parser.parse_args()
    if args.tasks < 1:
        parser.error("--tasks must be at least 1")

    scheduler = CommandRunner(args.command, args.tasks, {"cpus": args.cpus, "mem": args.mem},
                              args.name)
    driver = allot.SchedulerDriver(scheduler, args.master, name=args.name, role=args.role)
    stopped_by = driver.run(teardown_on_signal=True)
    if stopped_by is not None:
        print(f"{stopped_by.name}: tore the framework down", file=sys.stderr)
        return 130
    finished = args.tasks - scheduler.failed
    print(f"{finished} of {args.tasks} finished", flush=True)
    return 0 if scheduler.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
