"""Figure 5: the local plane under 50 concurrent pollers: p50 and p99 GetKxCluster latency.

50 boto3 clients (5 processes x 10 threads, so the clients' own Python does not serialise
on one GIL) each poll GetKxCluster every 0.25 s (the watch's fastest interval) for a few
seconds; latency is measured per call at the client. Every answer must be correct (the
seeded cluster, RUNNING). Target: p99 under 50 ms.
"""

from __future__ import annotations

import multiprocessing
import threading
import time

from common import Figure, local_plane, median, percentile

TARGET_P99_MS = 50.0
PROCESSES, THREADS = 5, 10
INTERVAL, SECONDS = 0.25, 8.0


def _poll(conn, start_at: float, out: list, wrong: list) -> None:
    from kx_jupyter.finspace.clients import Clients

    fs = Clients(conn).finspace
    fs.get_kx_cluster(environmentId="kxlocaldev", clusterName="dev-gp")  # connect before the clock starts
    while time.time() < start_at:
        time.sleep(0.01)
    end = start_at + SECONDS
    while time.time() < end:
        t = time.perf_counter()
        got = fs.get_kx_cluster(environmentId="kxlocaldev", clusterName="dev-gp")
        out.append(time.perf_counter() - t)
        if got.get("clusterName") != "dev-gp" or got.get("status") != "RUNNING":
            wrong.append(got.get("status"))
        time.sleep(max(0.0, INTERVAL - (time.perf_counter() - t)))


def worker(conn, start_at: float, offset: int, results) -> None:
    """One process: THREADS pollers, their starts spread over one interval."""
    latencies: list[float] = []
    wrong: list = []
    threads = [
        threading.Thread(
            target=_poll,
            args=(conn, start_at + (offset + i) * INTERVAL / (PROCESSES * THREADS), latencies, wrong),
        )
        for i in range(THREADS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put((latencies, len(wrong)))


def run(runs: int) -> list[Figure]:
    from kx_jupyter.finspace.clients import Connection

    p50s, p99s, totals, wrong_total = [], [], 0, 0
    with local_plane(node_start_seconds=0.2) as (_home, info):
        conn = Connection(info.endpoint, info.endpoint, info.region, info.access_key, info.secret_key)
        ctx = multiprocessing.get_context("spawn")
        alone: list[float] = []
        _poll(conn, time.time(), alone, [])  # one poller on its own first: the machine's floor
        for _ in range(max(3, runs // 2 + 1)):
            results = ctx.Queue()
            start_at = time.time() + 6.0  # time for the processes to import boto3 and connect
            procs = [
                ctx.Process(target=worker, args=(conn, start_at, n * THREADS, results))
                for n in range(PROCESSES)
            ]
            for p in procs:
                p.start()
            latencies = []
            for _ in procs:
                got, wrong = results.get(timeout=120)
                latencies += got
                wrong_total += wrong
            for p in procs:
                p.join()
            totals += len(latencies)
            p50s.append(percentile(latencies, 50))
            p99s.append(percentile(latencies, 99))
    p50, p99 = median(p50s) * 1000, median(p99s) * 1000
    note = (
        f"{PROCESSES * THREADS} pollers every {INTERVAL} s for {SECONDS:g} s, {len(p99s)} runs, {totals} calls; "
        f"{wrong_total} wrong answers; one poller alone: p50 {percentile(alone, 50) * 1000:.1f}, "
        f"p99 {percentile(alone, 99) * 1000:.1f} ms"
    )
    return [
        Figure(
            "50 pollers: GetKxCluster p99",
            p99,
            "ms",
            f"< {TARGET_P99_MS:g}",
            p99 < TARGET_P99_MS and not wrong_total,
            note,
        ),
        Figure("50 pollers: GetKxCluster p50", p50, "ms", note="median over the runs"),
    ]
