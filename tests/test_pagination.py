"""Every paged FinSpace listing is read through botocore's paginators, to its last page.

The shipped model's paginator file has one for each Kx listing that pages; the engine's
listings follow ``nextToken`` however many pages there are (a hand-written loop once stopped
after 10 pages, and the status view read only the first page of nodes).
"""

from __future__ import annotations

import pytest

from kx_jupyter.config import load_settings
from kx_jupyter.deploy import Engine
from kx_jupyter.finspace.clients import Clients, Connection
from kx_jupyter.finspace.model import service_model

ENV = "kxenv"


@pytest.fixture
def stubbed(tmp_path):
    """An engine whose FinSpace client answers from a botocore Stubber (nothing listens on port 9)."""
    from botocore.stub import Stubber

    clients = Clients(Connection("http://127.0.0.1:9", "http://127.0.0.1:9", "us-east-1", "AKIDEXAMPLE", "x"))
    engine = Engine(load_settings(environ={}, home=str(tmp_path), environment=ENV), clients=clients)
    with Stubber(clients.finspace) as stub:
        yield engine, stub
        stub.assert_no_pending_responses()


def _pages(stub, method: str, key: str, items: list, params: dict) -> None:
    """Answer ``method`` with one item per page, each page asking for the next with its token."""
    for i, item in enumerate(items):
        answer = {key: [item]} | ({"nextToken": f"page{i + 1}"} if i + 1 < len(items) else {})
        stub.add_response(method, answer, params | ({"nextToken": f"page{i}"} if i else {}))


def test_every_paged_kx_listing_has_a_paginator():
    from botocore.paginate import PaginatorModel

    from kx_jupyter.finspace.clients import botocore_session

    model = service_model()

    def members(shape) -> dict:
        return shape.members if shape is not None else {}

    paged = {
        name
        for name in model.operation_names
        if "nextToken" in members(model.operation_model(name).input_shape)
        and "nextToken" in members(model.operation_model(name).output_shape)
    }
    loader = botocore_session().get_component("data_loader")
    shipped = PaginatorModel(loader.load_service_model("finspace", "paginators-1"))
    assert {"ListKxClusters", "ListKxClusterNodes", "ListKxEnvironments"} <= paged
    for name in paged:
        config = shipped.get_paginator(name)
        assert config["input_token"] == config["output_token"] == "nextToken"
        assert config["result_key"] in model.operation_model(name).output_shape.members


def test_clusters_are_read_past_the_tenth_page(stubbed):
    engine, stub = stubbed
    clusters = [{"clusterName": f"c{i:02}", "clusterType": "GP", "status": "RUNNING"} for i in range(12)]
    _pages(stub, "list_kx_clusters", "kxClusterSummaries", clusters, {"environmentId": ENV})
    assert [c["clusterName"] for c in engine.clusters()] == [f"c{i:02}" for i in range(12)]


def test_environments_are_read_to_the_last_page(stubbed):
    engine, stub = stubbed
    envs = [{"environmentId": f"env{i}", "name": f"team-{i}"} for i in range(3)]
    _pages(stub, "list_kx_environments", "environments", envs, {})
    assert [e["environmentId"] for e in engine.environments()] == ["env0", "env1", "env2"]


def test_status_lists_every_node_not_only_the_first_page(stubbed):
    engine, stub = stubbed
    stub.add_response(
        "get_kx_cluster",
        {"clusterName": "big", "status": "RUNNING", "clusterType": "HDB"},
        {"environmentId": ENV, "clusterName": "big"},
    )
    nodes = [{"nodeId": f"n{i}", "status": "RUNNING"} for i in range(3)]
    _pages(stub, "list_kx_cluster_nodes", "nodes", nodes, {"environmentId": ENV, "clusterName": "big"})
    assert [n["nodeId"] for n in engine.status("big")["nodes"]] == ["n0", "n1", "n2"]


def test_a_listing_that_hands_back_the_same_token_is_an_error_not_a_loop(stubbed):
    engine, stub = stubbed
    first = {"kxClusterSummaries": [{"clusterName": "abc"}], "nextToken": "again"}
    stub.add_response("list_kx_clusters", first, {"environmentId": ENV})
    stub.add_response("list_kx_clusters", first, {"environmentId": ENV, "nextToken": "again"})
    from kx_jupyter.errors import KxError

    with pytest.raises(KxError, match="listing the clusters of kxenv"):
        engine.clusters()
