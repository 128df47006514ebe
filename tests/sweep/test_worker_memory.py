"""The peak memory a sweep worker reports is its own, not that of the process it was spawned from."""

import multiprocessing

from rnncondense.runtime import peak_rss_mb

MB = 2**20


def _touched(n_mb: int) -> bytearray:
    block = bytearray(n_mb * MB)
    block[:: 4096] = b"\x01" * len(range(0, len(block), 4096))  # make every page resident
    return block


def _child(queue) -> None:
    before = peak_rss_mb()
    block = _touched(200)
    queue.put((before, peak_rss_mb()))
    del block


def test_a_spawned_process_reports_its_own_peak_memory():
    parent_block = _touched(600)  # the parent is now far larger than the child will ever be
    context = multiprocessing.get_context("spawn")  # how Dask's nanny starts its workers
    queue = context.Queue()
    child = context.Process(target=_child, args=(queue,))
    child.start()
    before, after = queue.get(timeout=120)
    child.join(timeout=60)
    assert peak_rss_mb() >= 600  # the parent's own peak
    assert before < 400, "the child reported its parent's memory"
    assert after - before >= 190  # and its own 200 MB once it used them
    del parent_block
