"""The embedded, wire-compatible FinSpace Managed kdb control plane (the default backend).

One endpoint on 127.0.0.1 serves the FinSpace kx REST routes, S3 (path-style) and CloudWatch
Logs; every request must be SigV4-signed with the plane's own credentials (``kx-jupyter local
env`` prints them). The engine finds it through ``kx_jupyter.BACKENDS`` (``daemon.connection``,
which starts it on first use) and reads one hint directly, ``daemon.node_start_seconds``.

Modules: ``daemon`` (start/status/stop/reset), ``statefiles`` (which plane serves a state dir,
its lock and marker), ``server`` (WSGI dispatch), ``sigv4`` and ``bodies`` (signature first, then
the body, hashed as read), ``wire`` (model-driven rest-json), ``api`` (operation rules),
``reconciler`` (lifecycle), ``runtime`` (q process or offline checker per node), ``awsbackends``
(durable moto S3 and Logs), ``store`` (SQLite WAL).

Admin routes (signed like any request; for tests and reliability suites):

- ``GET /_kxlocal/health`` (unsigned): ``{"ok": true, "pid": N}``.
- ``GET|POST|DELETE /_kxlocal/faults``: read, set or clear the fault plan for every request
  (FinSpace, S3, CloudWatch Logs), a JSON object: ``throttle``/``error``/``drop``/``slow``/
  ``drop_after`` (shares 0-1 answering the service's own throttling and internal error (FinSpace
  429/500, S3 503 SlowDown/500 InternalError, Logs ThrottlingException/ServiceUnavailable), a
  dropped connection, a delay of ``slow_seconds``, or carrying the request out and then
  dropping the connection), ``sequence`` (list of those kinds or ``"ok"``, applied to the next
  requests in order), ``operations`` (only these API operation names, e.g. ``GetKxCluster``,
  ``PutObject``, ``FilterLogEvents``), ``step_error`` (cluster names whose reconciler step raises
an internal error), ``hold`` (cluster names whose operations wait where they are until the plan
changes: an update stays UPDATING). ``daemon.start(faults=...)`` sets the initial plan.
- ``GET /_kxlocal/counters``: ``{"appliedUpdates": {clientToken: n}, "requests": {operation: n}}``
  (requests of all three services, by API operation name);
  ``appliedUpdates`` counts code updates actually applied, so a test can prove no double deploy.
"""
