"""Search engines: result pages parsed with BeautifulSoup, pagination, limits, query templates."""

from __future__ import annotations

import pytest

from scraper.sources.queries import SearchQuery, expand_template
from scraper.sources.search_engines import BingImages, GoogleImages, SearchSource, engine_named
from tests.scraper.local_server import Route
from tests.scraper.search_pages import bing_page, google_basic_page, google_page

ENGINES = {
    "bing": (BingImages, bing_page),
    "google": (GoogleImages, google_page),
    "google-basic-html": (GoogleImages, google_basic_page),
}


def results(prefix: str, count: int, start: int = 0) -> list[dict]:
    return [
        {
            "image_url": f"http://img.example.org/{prefix}/{i}.jpg",
            "page_url": f"http://blog.example.org/{prefix}/{i}.html",
            "title": f"{prefix} photo {i}",
        }
        for i in range(start, start + count)
    ]


def serve(web, engine, query: str, pages: list[list[dict]], render, per_page: int = 3) -> None:
    for number, page in enumerate(pages):
        path = engine.page_url(query, number, per_page).removeprefix(engine.base_url)
        web.routes[path] = Route(render(page), headers={"Content-Type": "text/html; charset=utf-8"})


def discovered(source: SearchSource, cursor: dict | None = None) -> tuple[list, list]:
    batches = list(source.discover(cursor or {}))
    return [item for batch in batches for item in batch.items], batches


@pytest.mark.parametrize("name", ENGINES)
def test_a_result_page_is_parsed_into_image_urls_pages_and_titles(name):
    engine_class, render = ENGINES[name]
    engine = engine_class("http://search.test")
    page = engine.parse(render(results("beach", 2)).decode(), "http://search.test/x")
    assert [(r.image_url, r.page_url, r.title) for r in page] == [
        ("http://img.example.org/beach/0.jpg", "http://blog.example.org/beach/0.html", "beach photo 0"),
        ("http://img.example.org/beach/1.jpg", "http://blog.example.org/beach/1.html", "beach photo 1"),
    ]


def test_bing_metadata_that_is_not_json_is_skipped():
    html = b"""<a class="iusc" m="{not json">x</a><a class="iusc" m='{"murl": "http://a.org/1.jpg", "t": "ok"}'>y</a>"""
    assert [r.image_url for r in BingImages("http://s").parse(html.decode(), "http://s/")] == ["http://a.org/1.jpg"]


def test_relative_image_urls_are_resolved_against_the_page():
    html = google_page([{"image_url": "/media/1.jpg"}]).decode()
    assert GoogleImages("http://s").parse(html, "http://mirror.test/search?q=x")[0].image_url == "http://mirror.test/media/1.jpg"


def test_google_basic_html_results_are_read_once_each_and_other_links_are_ignored():
    page = google_basic_page(results("park", 2) + results("park", 1)).decode()
    parsed = GoogleImages("http://g.test").parse(page, "http://g.test/search?q=park")
    assert [r.image_url for r in parsed] == ["http://img.example.org/park/0.jpg", "http://img.example.org/park/1.jpg"]


def test_google_classic_page_is_read_from_its_metadata_not_its_thumbnail_links():
    # The classic page's thumbnails also link to /imgres; those links must not add results.
    page = google_page(results("cafe", 2)).decode()
    assert len(GoogleImages("http://g.test").parse(page, "http://g.test/search?q=cafe")) == 2


def test_page_urls_carry_the_query_and_the_page_offset():
    assert BingImages("http://b.test").page_url("happy kids", 2, 35) == (
        "http://b.test/images/search?q=happy+kids&first=71&count=35&form=HDRSC2"
    )
    assert GoogleImages("http://g.test").page_url("sad", 1, 100) == "http://g.test/search?q=sad&tbm=isch&ijn=1&start=100"


def test_an_unknown_engine_is_named_in_the_error():
    with pytest.raises(ValueError, match="engine: unknown engine 'altavista'"):
        engine_named("altavista", {})


@pytest.mark.parametrize("name", ENGINES)
def test_pages_are_followed_until_the_results_end(web, fetcher, name):
    engine_class, render = ENGINES[name]
    engine = engine_class(web.base_url)
    query = SearchQuery("people dancing", {})
    serve(web, engine, query.text, [results("p0", 3), results("p1", 3), results("p2", 1), []], render)
    source = SearchSource(engine, [query], limit=100, fetcher=fetcher, per_page=3, max_pages=10, max_page_bytes=10**6)
    items, _ = discovered(source)
    assert [item.image_url.rsplit("/", 2)[1] for item in items] == ["p0"] * 3 + ["p1"] * 3 + ["p2"]
    assert [item.extra["rank"] for item in items] == list(range(1, 8))
    assert {item.query for item in items} == {"people dancing"} and items[0].folder == "web/images"
    assert items[0].page_url == "http://blog.example.org/p0/0.html" and items[0].title == "p0 photo 0"


def test_the_limit_stops_paging(web, fetcher):
    engine = BingImages(web.base_url)
    serve(web, engine, "crowd", [results("a", 3), results("b", 3), results("c", 3)], bing_page)
    source = SearchSource(engine, [SearchQuery("crowd", {})], limit=4, fetcher=fetcher, per_page=3, max_pages=10, max_page_bytes=10**6)
    items, _ = discovered(source)
    assert len(items) == 4
    assert web.hits(engine.page_url("crowd", 2, 3).removeprefix(web.base_url)) == 0


def test_discovery_resumes_from_its_cursor(web, fetcher):
    engine = BingImages(web.base_url)
    queries = [SearchQuery("one", {}), SearchQuery("two", {})]
    serve(web, engine, "one", [results("one-a", 3), results("one-b", 2), []], bing_page)
    serve(web, engine, "two", [results("two-a", 3), []], bing_page)
    source = SearchSource(engine, queries, limit=10, fetcher=fetcher, per_page=3, max_pages=10, max_page_bytes=10**6)
    all_items, batches = discovered(source)
    # Stop after the first batch and start again from the cursor it carried.
    first_batch = batches[0]
    rest, _ = discovered(source, first_batch.cursor)
    assert [i.key for i in first_batch.items + rest] == [i.key for i in all_items]
    assert len(all_items) == 8


def test_a_failing_result_page_is_reported_and_the_next_query_goes_on(web, fetcher):
    engine = GoogleImages(web.base_url)
    web.routes[engine.page_url("broken", 0, 3).removeprefix(web.base_url)] = Route(b"", status=403)
    serve(web, engine, "fine", [results("fine", 2), []], google_page)
    source = SearchSource(
        engine, [SearchQuery("broken", {}), SearchQuery("fine", {})], limit=10, fetcher=fetcher, per_page=3, max_pages=5, max_page_bytes=10**6
    )
    items, batches = discovered(source)
    assert [b.page_error for b in batches if b.page_error][0].endswith("http_error: HTTP 403")
    assert len(items) == 2 and {i.query for i in items} == {"fine"}


def test_a_result_with_a_malformed_image_url_is_a_rejected_item(web, fetcher):
    engine = BingImages(web.base_url)
    serve(web, engine, "q", [[{"image_url": "javascript:alert(1)"}, *results("ok", 1)], []], bing_page)
    source = SearchSource(engine, [SearchQuery("q", {})], limit=10, fetcher=fetcher, per_page=3, max_pages=5, max_page_bytes=10**6)
    items, _ = discovered(source)
    assert items[0].rejection[0] == "bad_url" and items[1].rejection is None


def test_templates_combine_places_activities_and_emotion_words():
    queries = expand_template(
        "{emotion} people {activity} in a {place}",
        {"emotion": ["happy", "sad"], "activity": ["eating"], "place": ["park", "kitchen"]},
    )
    assert [q.text for q in queries] == [
        "happy people eating in a park",
        "happy people eating in a kitchen",
        "sad people eating in a park",
        "sad people eating in a kitchen",
    ]
    assert queries[0].parts == {"emotion": "happy", "activity": "eating", "place": "park"}


def test_a_template_slot_without_words_is_named():
    with pytest.raises(ValueError, match=r"template: no words for slot \{weather\}"):
        expand_template("{weather} day", {})


def test_default_emotion_words_come_from_the_taxonomy():
    queries = expand_template("{emotion}")
    assert len(queries) == 26 and queries[9].text == "doubt confusion"
