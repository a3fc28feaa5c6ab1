"""The FinSpace kx operations the local plane serves, with the service's rules.

Each method takes the parsed, validated request parameters and returns the output as a
dict (the wire layer shapes it). State changes are single SQLite transactions; anything
that takes time (nodes starting, rolling, deleting) is queued as an operation row that the
reconciler carries out, so a request never waits for a node.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
import threading
import time

from .wire import ApiError

ACCOUNT_ID = "123456789012"
CONFIG_FIELDS = ("code", "initializationScript", "commandLineArguments")
KEPT_BY_NO_RESTART = ("initializationScript", "commandLineArguments")
NOT_SPEC = {"environmentId", "clusterName", "clientToken", *CONFIG_FIELDS}
BUSY = {"CREATING", "UPDATING", "DELETING", "PENDING"}
AZS = ("use1-az1", "use1-az2", "use1-az4")
# A cluster with its create still queued reads PENDING (as the service's first answer does), then CREATING.
CLUSTER_SQL = (
    "SELECT c.*, EXISTS (SELECT 1 FROM operations o WHERE o.env_id=c.env_id AND o.cluster=c.name AND o.kind='create' "
    "AND o.state='pending' AND o.phase=0 AND o.phase_started IS NULL) AS queued FROM clusters c"
)
# The kx resources of the plane that carry tags: an environment, and its clusters and users.
_TAGGABLE_ARN = re.compile(
    r"arn:aws:finspace:[^:]*:\d+:kxEnvironment/(?P<env>[^/]+)(?:/(?P<kind>kxCluster|kxUser)/(?P<name>[^/]+))?"
)
_REASON_BAD = re.compile(r"[^a-zA-Z0-9_\-.\s]+")


_REASON_WORDS = str.maketrans(
    {
        "{": " brace ",
        "}": " brace ",
        "(": " paren ",
        ")": " paren ",
        "[": " bracket ",
        "]": " bracket ",
        ":": " ",
        ";": " ",
        "/": "-",
        "'": "",
        '"': "",
    }
)
_CLAUSE_BREAK = re.compile(r"[:;]\s+")


def status_reason(text: str) -> str:
    """Text made to fit ``KxClusterStatusReason`` (``^[a-zA-Z0-9\\_\\-\\.\\s]+$``, at most 250), still readable."""
    words = _CLAUSE_BREAK.sub(" - ", text).translate(_REASON_WORDS)
    cleaned = " ".join(_REASON_BAD.sub(" ", words).split()).replace(" .", ".")
    return (cleaned or "failed")[:250].rstrip() or "failed"


def new_environment_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(26))


def new_node_id() -> str:
    return "kxnode-" + secrets.token_hex(8)


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
        if isinstance(offset, int) and offset >= 0:
            return offset
    except (ValueError, KeyError, TypeError):
        pass
    raise ApiError(
        "ValidationException", "nextToken: the pagination token is not valid; start again without it"
    )


def page(items: list, params: dict, default_size: int = 100) -> tuple[list, str | None]:
    start = decode_token(params.get("nextToken"))
    size = params.get("maxResults") or default_size
    chunk = items[start : start + size]
    more = start + size < len(items)
    return chunk, (encode_token(start + size) if more else None)


def fingerprint(params: dict) -> str:
    return json.dumps({k: v for k, v in params.items() if k != "clientToken"}, sort_keys=True)


def shown_status(row) -> str:
    """A cluster's status as clients see it: PENDING while its create waits for the reconciler."""
    return "PENDING" if row["status"] == "CREATING" and row["queued"] else row["status"]


def args_dict(arguments: list[dict] | None) -> dict[str, str]:
    return {a["key"]: a["value"] for a in (arguments or [])}


class ControlPlane:
    """Request handlers over the store; ``objects`` answers whether code exists in S3."""

    def __init__(self, store, objects, region: str, wake=lambda: None):
        self.store = store
        self.objects = objects
        self.region = region
        self.wake = wake  # tells the reconciler there is new work
        self.runs_q = False  # set by the server: nodes are q processes rather than the checker
        self._token_lock = threading.Lock()  # a retry racing its original waits and then sees its result

    def handle(self, operation: str, params: dict) -> dict:
        token = params.get("clientToken")
        if token is None:
            return getattr(self, operation)(params)
        with self._token_lock:
            return self._handle_once(operation, token, params)

    def _handle_once(self, operation: str, token: str, params: dict) -> dict:
        with self.store.tx() as db:
            seen = self.store.find_token(db, operation, token)
        if seen is not None:
            if seen["fingerprint"] == fingerprint(params):
                return json.loads(seen["response"])
            raise ApiError(
                "ConflictException",
                f"clientToken {token} was already used with a different {operation} request; "
                "use a new clientToken for a new request",
                reason="IdempotentParameterMismatch",
            )
        result = getattr(self, operation)(params)
        with self.store.tx() as db:
            self.store.remember_token(db, operation, token, fingerprint(params), result)
        return result

    # environments ------------------------------------------------------------------------
    def _environment(self, env_id: str) -> dict:
        return self._environment_in(self.store.conn(), env_id)

    def create_environment(self, db, name: str, env_id: str | None = None, **extra) -> dict:
        env_id = env_id or new_environment_id()
        now = time.time()
        body = {
            "name": name,
            "environmentId": env_id,
            "awsAccountId": ACCOUNT_ID,
            "status": "CREATED",
            "environmentArn": f"arn:aws:finspace:{self.region}:{ACCOUNT_ID}:kxEnvironment/{env_id}",
            "creationTimestamp": now,
            "updateTimestamp": now,
            "availabilityZoneIds": list(AZS),
            "dedicatedServiceAccountId": ACCOUNT_ID,
            **extra,
        }
        db.execute("INSERT INTO environments VALUES (?, ?, ?)", (env_id, json.dumps(body), now))
        return body

    def CreateKxEnvironment(self, params):
        with self.store.tx() as db:
            taken = [json.loads(r["body"])["name"] for r in db.execute("SELECT body FROM environments")]
            if params["name"] in taken:
                raise ApiError(
                    "ConflictException",
                    f"an environment named {params['name']} already exists",
                    reason="name in use",
                )
            extra = {k: params[k] for k in ("description", "kmsKeyId", "tags") if k in params}
            return self.create_environment(db, params["name"], **extra)

    @staticmethod
    def _save_environment(db, body: dict) -> None:
        db.execute("UPDATE environments SET body=? WHERE id=?", (json.dumps(body), body["environmentId"]))

    def _environment_in(self, db, env_id: str) -> dict:
        row = db.execute("SELECT body FROM environments WHERE id=?", (env_id,)).fetchone()
        if row is None:
            raise ApiError("ResourceNotFoundException", f"environment {env_id} not found")
        return json.loads(row["body"])

    def GetKxEnvironment(self, params):
        return self._environment(params["environmentId"])

    def ListKxEnvironments(self, params):
        rows = self.store.read("SELECT body FROM environments ORDER BY created, id")
        envs, token = page([json.loads(r["body"]) for r in rows], params)
        return {"environments": envs, "nextToken": token}

    def DeleteKxEnvironment(self, params):
        env_id = params["environmentId"]
        with self.store.tx() as db:
            self._environment(env_id)
            if db.execute("SELECT 1 FROM clusters WHERE env_id=?", (env_id,)).fetchone():
                raise ApiError(
                    "ConflictException",
                    f"environment {env_id} still has clusters; delete them first",
                    reason="environment has clusters",
                )
            db.execute("DELETE FROM environments WHERE id=?", (env_id,))
        return {}

    # clusters ----------------------------------------------------------------------------
    def _cluster_row(self, db, env_id: str, name: str):
        row = db.execute(f"{CLUSTER_SQL} WHERE c.env_id=? AND c.name=?", (env_id, name)).fetchone()
        if row is None:
            if db.execute("SELECT 1 FROM environments WHERE id=?", (env_id,)).fetchone() is None:
                raise ApiError("ResourceNotFoundException", f"environment {env_id} not found")
            raise ApiError("ResourceNotFoundException", f"cluster {name} not found in environment {env_id}")
        return row

    @staticmethod
    def cluster_view(row) -> dict:
        config = json.loads(row["config"])
        view = {
            **json.loads(row["spec"]),
            **{k: config[k] for k in CONFIG_FIELDS if config.get(k) is not None},
        }
        view.update(
            clusterName=row["name"],
            environmentId=row["env_id"],
            status=shown_status(row),
            statusReason=row["status_reason"],
            createdTimestamp=row["created"],
            lastModifiedTimestamp=row["modified"],
        )
        return view

    def _check_code(self, params: dict) -> None:
        code = params.get("code")
        if code:
            problem = self.objects.object_problem(
                code["s3Bucket"], code["s3Key"], code.get("s3ObjectVersion")
            )
            if problem:
                raise ApiError("ValidationException", problem)

    def _check_arguments(self, arguments) -> None:
        keys = [a["key"] for a in arguments or []]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ApiError(
                "ValidationException", f"commandLineArguments: key {dupes[0]} appears more than once"
            )

    def config_from(self, params: dict) -> dict:
        config = {k: params[k] for k in CONFIG_FIELDS if params.get(k) is not None}
        code = params.get("code")
        if code:  # pin the version the service read, so restarts run the same bytes
            config["resolvedVersion"] = code.get("s3ObjectVersion") or self.objects.latest_version(
                code["s3Bucket"], code["s3Key"]
            )
        return config

    def insert_cluster(self, db, env_id: str, params: dict, status: str, config: dict) -> list[str]:
        """Insert a cluster and its nodes; returns the node ids. ``config`` comes from ``config_from``
        outside the transaction (the S3 lock is never taken while holding the store's)."""
        now = time.time()
        spec = {k: v for k, v in params.items() if k not in NOT_SPEC}
        spec.setdefault("capacityConfiguration", {"nodeType": "kx.s.large", "nodeCount": 1})
        count = spec["capacityConfiguration"].get("nodeCount") or 1
        db.execute(
            "INSERT INTO clusters VALUES (?, ?, ?, NULL, ?, ?, ?, ?)",
            (env_id, params["clusterName"], status, json.dumps(config), json.dumps(spec), now, now),
        )
        node_ids = [new_node_id() for _ in range(count)]
        node_status = "RUNNING" if status == "RUNNING" else "PROVISIONING"
        for i, node_id in enumerate(node_ids):
            az = params.get("availabilityZoneId") or AZS[i % len(AZS)]
            db.execute(
                "INSERT INTO nodes VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                (
                    node_id,
                    env_id,
                    params["clusterName"],
                    i,
                    node_status,
                    now if node_status == "RUNNING" else None,
                    az,
                ),
            )
        return node_ids

    def queue(self, db, env_id, cluster, kind, plan, target=None, previous=None, token=None) -> None:
        db.execute(
            "INSERT INTO operations(env_id, cluster, kind, state, plan, target, previous, client_token, created) "
            "VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
            (
                env_id,
                cluster,
                kind,
                json.dumps(plan),
                json.dumps(target),
                json.dumps(previous),
                token,
                time.time(),
            ),
        )

    def CreateKxCluster(self, params):
        env_id, name = params["environmentId"], params["clusterName"]
        self._environment(env_id)
        self._check_code(params)
        self._check_arguments(params.get("commandLineArguments"))
        config = self.config_from(params)
        with self.store.tx() as db:
            if db.execute("SELECT 1 FROM clusters WHERE env_id=? AND name=?", (env_id, name)).fetchone():
                raise ApiError(
                    "ConflictException",
                    f"cluster {name} already exists in environment {env_id}",
                    reason="cluster name in use",
                )
            node_ids = self.insert_cluster(db, env_id, params, "CREATING", config)
            self.queue(db, env_id, name, "create", [node_ids], target=config)
            row = self._cluster_row(db, env_id, name)
        self.wake()
        return self.cluster_view(row)

    def GetKxCluster(self, params):
        return self.cluster_view(
            self._cluster_row(self.store.conn(), params["environmentId"], params["clusterName"])
        )

    def ListKxClusters(self, params):
        env_id = params["environmentId"]
        self._environment(env_id)
        rows = self.store.read(f"{CLUSTER_SQL} WHERE c.env_id=? ORDER BY c.created, c.name", (env_id,))
        views = [self.cluster_view(r) for r in rows]
        if params.get("clusterType"):
            views = [v for v in views if v.get("clusterType") == params["clusterType"]]
        chunk, token = page(views, params)
        return {"kxClusterSummaries": chunk, "nextToken": token}

    def DeleteKxCluster(self, params):
        env_id, name = params["environmentId"], params["clusterName"]
        with self.store.tx() as db:
            row = self._cluster_row(db, env_id, name)
            if row["status"] in ("DELETING", "CREATING", "UPDATING"):
                raise ApiError(
                    "ConflictException",
                    f"cluster {name} is {shown_status(row)}; wait until it is RUNNING",
                    reason=f"cluster is {shown_status(row)}",
                )
            db.execute(
                "UPDATE clusters SET status='DELETING', modified=? WHERE env_id=? AND name=?",
                (time.time(), env_id, name),
            )
            db.execute(
                "DELETE FROM operations WHERE env_id=? AND cluster=? AND state='pending'", (env_id, name)
            )
            self.queue(db, env_id, name, "delete", [])
        self.wake()
        return {}

    # nodes -------------------------------------------------------------------------------
    def ListKxClusterNodes(self, params):
        env_id, name = params["environmentId"], params["clusterName"]
        self._cluster_row(self.store.conn(), env_id, name)
        rows = self.store.read(
            "SELECT * FROM nodes WHERE env_id=? AND cluster=? ORDER BY position", (env_id, name)
        )
        nodes = [
            {
                "nodeId": r["node_id"],
                "availabilityZoneId": r["az"],
                "status": r["status"],
                "launchTime": r["launch_time"],
            }
            for r in rows
        ]
        chunk, token = page(nodes, params)
        return {"nodes": chunk, "nextToken": token}

    def DeleteKxClusterNode(self, params):
        env_id, name, node_id = params["environmentId"], params["clusterName"], params["nodeId"]
        with self.store.tx() as db:
            row = self._cluster_row(db, env_id, name)
            node = db.execute(
                "SELECT * FROM nodes WHERE node_id=? AND env_id=? AND cluster=?", (node_id, env_id, name)
            ).fetchone()
            if node is None:
                raise ApiError("ResourceNotFoundException", f"node {node_id} not found in cluster {name}")
            if row["status"] != "RUNNING":
                raise ApiError(
                    "ValidationException",
                    f"cluster {name} is {shown_status(row)}; nodes can be deleted only while it is RUNNING",
                )
            replacement = new_node_id()
            db.execute("DELETE FROM nodes WHERE node_id=?", (node_id,))
            db.execute(
                "INSERT INTO nodes VALUES (?, ?, ?, ?, 'PROVISIONING', NULL, ?, NULL, NULL)",
                (replacement, env_id, name, node["position"], node["az"]),
            )
            self.queue(
                db,
                env_id,
                name,
                "replace",
                [[replacement]],
                target=json.loads(row["config"]),
                previous={"removed": node_id},
            )
        self.wake()
        return {}

    # code updates ------------------------------------------------------------------------
    def UpdateKxClusterCodeConfiguration(self, params):
        env_id, name = params["environmentId"], params["clusterName"]
        strategy = (params.get("deploymentConfiguration") or {}).get("deploymentStrategy", "ROLLING")
        self._check_arguments(params.get("commandLineArguments"))
        with self.store.tx() as db:
            row = self._cluster_row(db, env_id, name)
            if row["status"] in BUSY:
                raise ApiError(
                    "ConflictException",
                    f"cluster {name} is {shown_status(row)}; wait until it is RUNNING before updating its code",
                    reason=f"Cluster is in {shown_status(row)} state",
                )
            if row["status"] != "RUNNING":
                raise ApiError(
                    "ConflictException",
                    f"cluster {name} is {shown_status(row)} and cannot be updated",
                    reason=f"Cluster is in {shown_status(row)} state",
                )
        self._check_code(params)
        current = json.loads(row["config"])
        spec = json.loads(row["spec"])
        if strategy == "NO_RESTART":
            self._check_no_restart(name, spec, current, params)
        target = self.config_from(params)
        if (
            strategy == "NO_RESTART"
        ):  # what the request leaves out, the cluster keeps (AWS's example sends neither)
            target = {**{k: current[k] for k in KEPT_BY_NO_RESTART if k in current}, **target}
        with self.store.tx() as db:
            row = self._cluster_row(db, env_id, name)
            if row["status"] != "RUNNING":  # another request won the race
                raise ApiError(
                    "ConflictException",
                    f"cluster {name} is {shown_status(row)}",
                    reason=f"Cluster is in {shown_status(row)} state",
                )
            self._replacements_give_way(db, env_id, name)
            node_ids = [
                r["node_id"]
                for r in db.execute(
                    "SELECT node_id FROM nodes WHERE env_id=? AND cluster=? ORDER BY position", (env_id, name)
                )
            ]
            plan = {"ROLLING": [[n] for n in node_ids], "FORCE": [node_ids], "NO_RESTART": []}[strategy]
            db.execute(
                "UPDATE clusters SET status='UPDATING', modified=? WHERE env_id=? AND name=?",
                (time.time(), env_id, name),
            )
            self.queue(
                db,
                env_id,
                name,
                "update",
                plan,
                target={**target, "strategy": strategy},
                previous=current,
                token=params.get("clientToken"),
            )
        self.wake()
        return {}

    @staticmethod
    def _check_no_restart(name: str, spec: dict, current: dict, params: dict) -> None:
        """NO_RESTART runs on GP clusters only and keeps the init script and arguments: left out or given
        unchanged is fine, a different value is refused (q is not restarted, so it could not take effect)."""
        if spec.get("clusterType") != "GP":
            raise ApiError(
                "ValidationException",
                f"deploymentConfiguration.deploymentStrategy: NO_RESTART is only "
                f"supported on GP clusters; {name} is {spec.get('clusterType')}",
            )
        same = {
            "initializationScript": params.get("initializationScript") == current.get("initializationScript"),
            "commandLineArguments": args_dict(params.get("commandLineArguments"))
            == args_dict(current.get("commandLineArguments")),
        }
        changed = [field for field in KEPT_BY_NO_RESTART if field in params and not same[field]]
        if changed:
            raise ApiError(
                "ValidationException",
                f"{changed[0]}: NO_RESTART cannot change initializationScript or "
                f"commandLineArguments ({name} keeps its own); leave them out to keep "
                "the cluster's, or use ROLLING or FORCE",
            )

    @staticmethod
    def _replacements_give_way(db, env_id: str, name: str) -> None:
        """A node being replaced holds off a code update, unless its replacement keeps failing to
        start (a crash loop the update may fix): the update restarts every node, so it takes over."""
        pending = db.execute(
            "SELECT id, reason FROM operations WHERE env_id=? AND cluster=? AND state='pending'",
            (env_id, name),
        ).fetchall()
        if any(not op["reason"] for op in pending):
            raise ApiError(
                "ConflictException",
                f"a node of cluster {name} is being replaced; update when it is RUNNING",
                reason="node replacement in progress",
            )
        db.executemany("UPDATE operations SET state='done' WHERE id=?", [(op["id"],) for op in pending])

    def GetKxConnectionString(self, params):
        """``:tcps://HOST:PORT:USER:TOKEN``, the service's form (AWS's helper splits it on ':' and takes
        parts 2-5); the user must exist, as the service signs the token for that user's role."""
        env_id, name = params["environmentId"], params["clusterName"]
        db = self.store.conn()
        row = self._cluster_row(db, env_id, name)
        user = self._user(db, env_id, self._user_name_of(params["userArn"], env_id))
        if row["status"] not in ("RUNNING", "UPDATING"):
            raise ApiError(
                "ConflictException",
                f"cluster {name} is {shown_status(row)}; it has no running nodes",
                reason=f"Cluster is in {shown_status(row)} state",
            )
        node = db.execute(
            "SELECT port FROM nodes WHERE env_id=? AND cluster=? AND status='RUNNING' AND port IS NOT NULL ORDER BY position",
            (env_id, name),
        ).fetchone()
        if node is None and self.runs_q:
            raise ApiError(
                "ConflictException",
                f"no node of cluster {name} is listening yet; retry shortly",
                reason="nodes starting",
            )
        if node is None:
            raise ApiError(
                "ConflictException",
                f"cluster {name} has no q process to connect to: its nodes run the offline q "
                f"checker because no q binary was found. Set q_binary or QHOME and restart the plane.",
                reason="no q process",
            )
        return {
            "signedConnectionString": f":tcps://127.0.0.1:{node['port']}:{user['userName']}:{secrets.token_urlsafe(32)}"
        }

    # users -------------------------------------------------------------------------------
    def _user_arn(self, env_id: str, user: str) -> str:
        return f"arn:aws:finspace:{self.region}:{ACCOUNT_ID}:kxEnvironment/{env_id}/kxUser/{user}"

    @staticmethod
    def _user_name_of(arn: str, env_id: str) -> str:
        found = _TAGGABLE_ARN.fullmatch(arn)
        if found is None or found["kind"] != "kxUser" or found["env"] != env_id:
            raise ApiError(
                "ResourceNotFoundException", f"userArn {arn} is not a user of environment {env_id}"
            )
        return found["name"]

    def _user(self, db, env_id: str, user: str) -> dict:
        found = self._environment_in(db, env_id).get("users", {}).get(user)
        if found is None:
            raise ApiError(
                "ResourceNotFoundException",
                f"user {user} not found in environment {env_id}; create it with CreateKxUser",
            )
        return found

    def CreateKxUser(self, params):
        env_id, user = params["environmentId"], params["userName"]
        with self.store.tx() as db:
            env = self._environment_in(db, env_id)
            users = env.setdefault("users", {})
            if user in users:
                raise ApiError(
                    "ConflictException",
                    f"user {user} already exists in environment {env_id}",
                    reason="user name in use",
                )
            now = time.time()
            users[user] = {
                "userName": user,
                "userArn": self._user_arn(env_id, user),
                "environmentId": env_id,
                "iamRole": params["iamRole"],
                "createTimestamp": now,
                "updateTimestamp": now,
                "tags": params.get("tags", {}),
            }
            self._save_environment(db, env)
        return users[user]

    def GetKxUser(self, params):
        return self._user(self.store.conn(), params["environmentId"], params["userName"])

    def ListKxUsers(self, params):
        users = self._environment(params["environmentId"]).get("users", {})
        chunk, token = page(
            sorted(users.values(), key=lambda u: (u["createTimestamp"], u["userName"])), params
        )
        return {"users": chunk, "nextToken": token}

    def DeleteKxUser(self, params):
        env_id, user = params["environmentId"], params["userName"]
        with self.store.tx() as db:
            self._user(db, env_id, user)
            env = self._environment_in(db, env_id)
            del env["users"][user]
            self._save_environment(db, env)
        return {}

    # tags --------------------------------------------------------------------------------
    def _tagged(self, db, arn: str):
        """The tags of the resource ``arn`` names, and how to store new ones (in the resource's own row)."""
        found = _TAGGABLE_ARN.fullmatch(arn)
        if found is None:
            raise ApiError(
                "ResourceNotFoundException",
                f"{arn} names no kx environment, cluster or user of the local plane",
            )
        env = self._environment_in(db, found["env"])
        if found["kind"] is None:

            def save(tags):
                self._save_environment(db, {**env, "tags": tags})

            return env.get("tags", {}), save
        if found["kind"] == "kxUser":
            user = self._user(db, found["env"], found["name"])

            def save(tags):
                env["users"][found["name"]] = {**user, "tags": tags}
                self._save_environment(db, env)

            return user.get("tags", {}), save
        spec = json.loads(self._cluster_row(db, found["env"], found["name"])["spec"])

        def save(tags):
            db.execute(
                "UPDATE clusters SET spec=? WHERE env_id=? AND name=?",
                (json.dumps({**spec, "tags": tags}), found["env"], found["name"]),
            )

        return spec.get("tags", {}), save

    def TagResource(self, params):
        with self.store.tx() as db:
            tags, save = self._tagged(db, params["resourceArn"])
            save({**tags, **params["tags"]})
        return {}

    def UntagResource(self, params):
        with self.store.tx() as db:
            tags, save = self._tagged(db, params["resourceArn"])
            save({k: v for k, v in tags.items() if k not in params["tagKeys"]})
        return {}

    def ListTagsForResource(self, params):
        with self.store.tx() as db:
            return {"tags": self._tagged(db, params["resourceArn"])[0]}
