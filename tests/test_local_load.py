"""50 concurrent boto3 clients polling GetKxCluster during an update all get correct answers.

p50/p99 latencies are printed (run with -s); speed targets belong in bench/, not here.
"""

import statistics
import threading
import time

from plane_fixtures import ENV_ID

CLIENTS = 50
POLLS_PER_CLIENT = 8


def test_fifty_concurrent_pollers(plane):
    version = plane.upload({"init.q": "a:9\n"})
    code = {"s3Bucket": "kx-local-code", "s3Key": "tests/code.zip", "s3ObjectVersion": version}
    clients = [plane.client("finspace", attempts=1) for _ in range(CLIENTS)]
    latencies, problems = [], []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS + 1)

    def poll(fs, cluster):
        start.wait()
        for _ in range(POLLS_PER_CLIENT):
            t0 = time.perf_counter()
            try:
                got = fs.get_kx_cluster(environmentId=ENV_ID, clusterName=cluster)
                ok = got["clusterName"] == cluster and got["status"] in ("RUNNING", "UPDATING")
                problem = None if ok else f"{cluster}: {got['clusterName']} {got['status']}"
            except Exception as exc:  # every failure is a finding, not a crash of the thread
                problem = f"{cluster}: {exc!r}"
            with lock:
                latencies.append(time.perf_counter() - t0)
                if problem:
                    problems.append(problem)

    threads = [
        threading.Thread(target=poll, args=(fs, ("hdb-3", "dev-gp")[i % 2])) for i, fs in enumerate(clients)
    ]
    for t in threads:
        t.start()
    plane.clients().finspace.update_kx_cluster_code_configuration(
        environmentId=ENV_ID,
        clusterName="hdb-3",
        code=code,
        initializationScript="init.q",
        commandLineArguments=[{"key": "role", "value": "hdb"}],
    )
    start.wait()
    for t in threads:
        t.join(timeout=120)
    assert problems == []
    assert len(latencies) == CLIENTS * POLLS_PER_CLIENT
    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"\nGetKxCluster x{len(latencies)} from {CLIENTS} clients: p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms"
    )
    assert plane.wait_status("hdb-3", "RUNNING")["code"] == code
