"""How allot.Master and allot.SchedulerDriver run their C++ loops: on the caller's
thread, stopped by Ctrl-C and SIGTERM, or on a thread of their own."""

import atexit
import contextlib
import signal
import threading


@contextlib.contextmanager
def signals_stop(stop):
    """In the main thread, makes SIGINT and SIGTERM call ``stop(signal)`` for the block
    instead of raising KeyboardInterrupt (or ending the process), and restores the
    handlers after it; elsewhere does nothing. Yields whether it installed them.

    Why: Python runs a handler between two bytecodes of the main thread, wherever that
    is. A KeyboardInterrupt raised inside a callback of the loop (a policy's decide, a
    scheduler's status_update) would leave as that callback's failure, with its work
    half done; one raised while the loop waits in C++ would not be seen at all (the
    loop must let Python run its handlers: the master's turns of 0.2 s, the driver's
    check every 0.1 s)."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGINT, signal.SIGTERM):
            previous[number] = signal.signal(number, lambda n, _: stop(signal.Signals(n)))
    try:
        yield bool(previous)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class Background:
    """Calls ``serve()`` on a new daemon thread named ``name``, keeping what it raises
    for ``join()``. At the interpreter's exit, if it still runs, ``stop()`` is called
    and the thread waited for: it must not call into Python while the interpreter shuts
    down."""

    def __init__(self, name, serve, stop):
        self._stop = stop
        self._error = None

        def run():
            try:
                serve()
            except BaseException as e:  # raised again by join()
                self._error = e

        self.thread = threading.Thread(target=run, name=name, daemon=True)
        self.thread.start()
        atexit.register(self._stop_at_exit)

    def _stop_at_exit(self):
        self._stop()
        self.thread.join()

    def join(self, timeout=None):
        """Waits for ``serve()`` to return (at most ``timeout`` seconds) and returns
        whether it did; raises what it raised."""
        self.thread.join(timeout)
        if self.thread.is_alive():
            return False
        atexit.unregister(self._stop_at_exit)
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return True
