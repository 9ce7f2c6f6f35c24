"""Independent reference schedules: EASY and conservative backfilling of an SWF log.

An oracle for `allot sim --policy easy|conservative --frameworks single`. It
reads the log with fcfs_reference.read_swf (never through allot) and counts
processors, as the classic definitions do (Lifka 1995; Mu'alem & Feitelson,
IEEE TPDS 2001):

- The queue is every submitted job not yet started, in submit order (ties:
  file order). Jobs wider than the cluster never start and are left out.
- A running job is expected to end at start + requested time (field 9), or
  now if it has run past that; a job without a requested time (<= 0) never
  ends, as far as reservations go.
- easy: start jobs in queue order while they fit. For the first that does
  not (the head), the shadow time is the earliest expected end at which the
  free processors, with everything expected to end by then, hold it; the
  extra processors are those free then beyond what the head needs. A later
  job that fits now starts if it is expected to end by the shadow time or
  needs no more than the extra (which it then uses up). If no shadow time
  exists (the head waits on jobs without requested times), nothing starts
  past the head.
- conservative: a profile of free processors over time (now, then each
  expected end), from which every queued job's reservation is taken out.
  At every event the queue is compressed (Mu'alem & Feitelson): each job in
  order gives its reservation back and takes the earliest time from which it
  fits for its requested time (a new job too), so a reservation moves
  earlier when jobs end early and never later while estimates hold; a job
  whose time is now starts.

Events are arrivals and actual ends (start + run time); at each time, ends
come before arrivals, then the scheduler runs (again if a job of run time 0
ended right away).

Usage: backfill_reference.py easy|conservative TRACE.swf[.gz] -> CSV job_id,submit,start
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fcfs_reference import read_swf, swf_fields  # noqa: E402


def requested_times(path):
    """{job_id: requested time (field 9) in seconds, or None when not given}."""
    out = {}
    for fields in swf_fields(path):
        value = float(fields[8])
        out[int(float(fields[0]))] = (int(value) if value.is_integer() else value) if value > 0 else None
    return out


def _easy(now, queue, free, running, start):
    while queue and queue[0]["procs"] <= free():
        start(queue[0])
    if not queue:
        return
    head = queue[0]
    avail, shadow = free(), now
    if head["procs"] > avail:
        ends = sorted((max(end, now), procs) for end, procs in running() if end is not None)
        found, i = False, 0
        while i < len(ends):
            shadow = ends[i][0]
            while i < len(ends) and ends[i][0] == shadow:
                avail += ends[i][1]
                i += 1
            if head["procs"] <= avail:
                found = True
                break
        if not found:
            return
    extra = avail - head["procs"]
    for job in list(queue[1:]):
        if job["procs"] > free():
            continue
        ends_before = job["estimate"] is not None and now + job["estimate"] <= shadow
        if not ends_before and job["procs"] > extra:
            continue
        start(job)
        if not ends_before:
            extra -= job["procs"]


def _conservative(now, queue, free, running, start):
    # profile: [time, free from then on], sorted by time
    profile = [[now, free()]]
    for end, procs in sorted((max(end, now), procs) for end, procs in running() if end is not None):
        if end == profile[-1][0]:
            profile[-1][1] += procs
        else:
            profile.append([end, profile[-1][1] + procs])

    def finish_of(job, begin):
        return None if job["estimate"] is None else begin + job["estimate"]

    def book(begin, finish, delta):
        for time in (begin, finish):
            if time is not None and all(step[0] != time for step in profile):
                before = [step for step in profile if step[0] < time][-1]
                profile.append([time, before[1]])
                profile.sort(key=lambda step: step[0])
        for step in profile:
            if step[0] >= begin and (finish is None or step[0] < finish):
                step[1] += delta

    for job in queue:
        if "reserved" in job:
            job["reserved"] = max(job["reserved"], now)
            book(job["reserved"], finish_of(job, job["reserved"]), -job["procs"])
    for job in list(queue):
        need = job["procs"]
        if "reserved" in job:
            book(job["reserved"], finish_of(job, job["reserved"]), need)
            del job["reserved"]
        chosen = None
        for k in range(len(profile)):
            finish = finish_of(job, profile[k][0])
            if all(profile[m][1] >= need for m in range(k, len(profile))
                   if finish is None or profile[m][0] < finish):
                chosen = k
                break
        if chosen is None:
            continue
        begin = profile[chosen][0]
        if chosen == 0:
            start(job)
        else:
            job["reserved"] = begin
        book(begin, finish_of(job, begin), -need)


def schedule(jobs, total, estimates, mode):
    """Backfilled schedule of (job_id, submit, runtime, procs) -> ({job_id: start}, [unschedulable])."""
    policy = {"easy": _easy, "conservative": _conservative}[mode]
    arrivals = sorted(jobs, key=lambda job: job[1])  # stable: file order among equal submits
    unschedulable = [job[0] for job in arrivals if job[3] > total]
    arrivals = [job for job in arrivals if job[3] <= total]
    queue, running, starts = [], [], {}  # running: [actual_end, expected_end, procs]
    state = {"free": total}
    now = 0

    def start(job):
        queue.remove(job)
        state["free"] -= job["procs"]
        starts[job["id"]] = now
        expected = None if job["estimate"] is None else now + job["estimate"]
        running.append([now + job["runtime"], expected, job["procs"]])

    def view():
        return [(r[1], r[2]) for r in running]

    next_arrival = 0
    while next_arrival < len(arrivals) or running:
        times = [r[0] for r in running]
        if next_arrival < len(arrivals):
            times.append(arrivals[next_arrival][1])
        now = min(times)
        while True:
            for r in [r for r in running if r[0] <= now]:
                running.remove(r)
                state["free"] += r[2]
            while next_arrival < len(arrivals) and arrivals[next_arrival][1] <= now:
                job_id, submit, runtime, procs = arrivals[next_arrival]
                queue.append({"id": job_id, "runtime": runtime, "procs": procs,
                              "estimate": estimates.get(job_id)})
                next_arrival += 1
            policy(now, queue, lambda: state["free"], view, start)
            if not any(r[0] <= now for r in running):
                break
    if queue:
        raise ValueError(f"{len(queue)} jobs never started")
    return starts, unschedulable


def backfill_schedule(path, mode):
    """Backfilled schedule of the SWF log at `path`: ({job_id: start_seconds}, [unschedulable ids])."""
    jobs, total = read_swf(path)
    return schedule(jobs, total, requested_times(path), mode)


def main(argv):
    if len(argv) != 3 or argv[1] not in ("easy", "conservative"):
        sys.exit(__doc__.strip().splitlines()[-1])
    jobs, total = read_swf(argv[2])
    submits = {job[0]: job[1] for job in jobs}
    starts, _ = schedule(jobs, total, requested_times(argv[2]), argv[1])
    print("job_id,submit,start")
    for job_id, begin in sorted(starts.items()):
        print(f"{job_id},{submits[job_id]},{begin}")


if __name__ == "__main__":
    main(sys.argv)
