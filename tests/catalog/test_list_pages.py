"""The one lister walks any list the way a record says: a toy record's path, query, list key, id
keys and paging style drive the requests and the parse, with no provider code involved."""

from __future__ import annotations

from typing import Any

import pytest

from rupu.catalog.list_pages import PagedLister, PageRequest
from rupu.catalog.listing import LISTERS
from rupu.config.builtins import ModelListing, builtin_providers
from rupu.errors import ProviderError
from rupu.modeldata.schema import LiveModel


def read(model_id: str, item: dict[str, Any]) -> LiveModel | None:
    return None if item.get("skip") else LiveModel(id=model_id, name=item.get("label"))


def lister(listing: ModelListing) -> PagedLister:
    return PagedLister("toy", listing, "http://toy", lambda: {"x-toy-key": "k"}, read)


def test_after_id_paging_follows_the_last_id_with_the_first_pages_headers() -> None:
    toy = lister(
        ModelListing(
            path="/api/list",
            query={"n": "2"},
            items="rows",
            id_keys=["slug", "id"],
            paging="after_id",
        )
    )
    first = toy.first()
    assert first.url == "http://toy/api/list?n=2"
    assert first.headers["x-toy-key"] == "k" and first.headers["accept"] == "application/json"
    body = {
        "rows": [{"slug": "a", "label": "A"}, {"id": "b", "skip": True}],
        "has_more": True,
        "last_id": "b",
    }
    models, following = toy.parse(body, first)
    assert [m.id for m in models] == ["a"] and models[0].name == "A"
    assert following == PageRequest("http://toy/api/list?n=2&after_id=b", first.headers)
    assert following.headers == first.headers
    assert toy.parse({"rows": [], "has_more": False}, following) == ([], None)
    with pytest.raises(ProviderError, match="has_more without last_id"):
        toy.parse({"rows": [], "has_more": True}, following)


def test_page_token_paging_and_an_empty_google_page() -> None:
    toy = lister(ModelListing(path="/m", paging="page_token"))
    first = toy.first()
    models, following = toy.parse({"data": [{"id": "x"}], "nextPageToken": "t"}, first)
    assert [m.id for m in models] == ["x"]
    assert following is not None and following.url == "http://toy/m?pageToken=t"
    assert toy.parse({}, following) == ([], None)


def test_a_single_page_list_has_no_next_page_and_a_malformed_one_is_named() -> None:
    toy = lister(ModelListing(path="/m"))
    first = toy.first()
    assert toy.parse({"data": [{"id": "x"}], "has_more": True}, first)[1] is None
    with pytest.raises(ProviderError, match="no 'data' list"):
        toy.parse({"models": []}, first)


def test_every_built_in_list_belongs_to_a_kind_that_lists() -> None:
    for record in builtin_providers().values():
        if record.models is not None or record.sso_models is not None:
            assert record.kind in LISTERS
        if record.kind in LISTERS:
            assert record.models is not None
