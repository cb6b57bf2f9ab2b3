"""Send ids are unique, also across a fork that happens between two of them."""

from __future__ import annotations

import os

from clarion.store.sends import new_send_id


def test_ids_are_distinct_and_shaped() -> None:
    ids = [new_send_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("snd_") and len(i) == 28 for i in ids)


def test_a_forked_child_does_not_repeat_its_parents_next_id() -> None:
    new_send_id()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write, new_send_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    childs = os.read(read, 64).decode()
    os.close(read)
    assert childs.startswith("snd_") and childs != new_send_id()
