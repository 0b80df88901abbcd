"""Whose lease may be taken at once: only a process of this host and PID namespace that no longer runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from core.owners import dead, gone, process_name, this_process


def exited_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    return int(child.stdout)


def test_a_process_of_this_host_that_exited_is_gone_and_a_running_one_is_not() -> None:
    assert gone(process_name(exited_pid()))
    assert gone(f"{process_name(exited_pid())}/3")  # a worker of it
    assert not gone(process_name(os.getppid()))


def test_this_process_is_gone_only_in_the_sense_of_a_previous_life() -> None:
    """A lease under this process's own name, met at start, is a previous life's (a restart that got the same pid,
    as pid 1 in a restarted container): it is taken."""
    assert gone(this_process())


def test_a_process_of_another_place_is_never_judged() -> None:
    """Another machine, boot or PID namespace (a container) is a place of its own, even under the same hostname
    or one alike in its first characters."""
    host = socket.gethostname()[:24]
    dead = exited_pid()
    assert not gone(f"elsewhere#00000000:{dead}")
    assert not gone(f"{host}#00000000:{dead}")  # the same hostname, another place
    assert not gone(f"{host}:{dead}")  # a name of no known shape
    assert not gone("garbage")


def test_dead_leaves_out_the_living_process_named_and_its_workers() -> None:
    gone_one = process_name(exited_pid())
    names = [gone_one, f"{gone_one}/0", this_process(), f"{this_process()}/2", process_name(os.getppid())]

    assert dead(names) == {gone_one, f"{gone_one}/0", this_process(), f"{this_process()}/2"}  # at start: a past life
    assert dead(names, alive=this_process()) == {gone_one, f"{gone_one}/0"}
