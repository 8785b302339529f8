"""Search jobs over the APIs end to end: several sources, one failing mid-job; licences at the door and on the image; quotas.

The search APIs are the loopback stand-ins of tests/scraper/search_apis.py
(answers shaped as each service documents); jobs run through the real
services, fetcher, pipeline and catalog, and the admin pages are fetched.
"""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from catalog.models import Image
from scraper.admin import CrawlJobForm
from scraper.models import CrawlJob, SearchSourceStatus
from scraper.services.jobs import create_crawl_job, resume_crawl_job, run_crawl_job, search_queries
from scraper.sources import SourceError
from scraper.sources.image_search import FailureReason
from tests.scraper.local_server import Route
from tests.scraper.search_apis import FakeCommons, FakeFlickr, FakeOpenverse, Photo, json_route, photos

pytestmark = pytest.mark.django_db


def queries(*texts: str) -> list[dict]:
    return [q.as_json() for q in search_queries(queries=list(texts))]


def job_for(engines: list[str], texts: list[str], limit: int = 10, **params) -> CrawlJob:
    return create_crawl_job("search", {"engines": engines, "queries": queries(*texts), "limit": limit, **params})


def test_a_source_failing_mid_job_is_stopped_while_the_other_goes_on(web, api_settings, admin_client):
    open_photos = {"happy people": photos("ov-happy", 3, seed=400), "sad people": photos("ov-sad", 3, seed=410)}
    wiki_photos = {"happy people": photos("wm-happy", 2, seed=420, license="by-sa"), "sad people": photos("wm-sad", 2, seed=430, license="cc0")}
    openverse, _ = FakeOpenverse(web, open_photos), FakeCommons(web, wiki_photos)
    throttled = {"on": True}
    openverse.hook = lambda request: (
        json_route({"detail": "Request was throttled. Expected available in 86400 seconds."}, 429, {"Retry-After": "86400"})
        if request.query.get("q") == "sad people" and throttled["on"] else None
    )  # fmt: skip
    api_settings.SCRAPER_RETRY_AFTER_CAP_SECONDS = 0.05
    api_settings.FLICKR_API_KEY = ""  # unavailable: shown so in the admin, not used

    job = run_crawl_job(job_for(["openverse", "wikimedia"], ["happy people", "sad people"]))

    assert job.state == CrawlJob.State.DEGRADED and job.state != "done"
    assert set(job.degraded_sources) == {"openverse"}
    stopped = job.degraded_sources["openverse"]
    assert stopped["reason"] == FailureReason.QUOTA and "sad people" in stopped["detail"]
    assert "Request was throttled" in stopped["sample"] and "Retry-After: 86400" in stopped["sample"]
    assert "openverse: quota_exhausted" in job.error
    stored = {image.source.engine + ":" + image.source.query for image in Image.objects.select_related("source")}
    assert stored == {"openverse:happy people", "wikimedia:happy people", "wikimedia:sad people"}
    assert job.stored == 3 + 2 + 2
    status = {s.engine: s for s in SearchSourceStatus.objects.all()}
    assert status["openverse"].state == "degraded" and status["openverse"].job_id == job.pk and "throttled" in status["openverse"].sample
    assert status["wikimedia"].state == "working" and status["wikimedia"].last_success_at

    page = admin_client.get(reverse("admin:scraper_crawljob_change", args=[job.pk])).content.decode()
    assert "Finished, but a source failed" in page and "quota_exhausted" in page and "Request was throttled" in page
    listing = admin_client.get(reverse("admin:scraper_crawljob_changelist")).content.decode()
    assert "openverse (quota_exhausted)" in listing
    sources = admin_client.get(reverse("admin:scraper_searchsourcestatus_changelist")).content.decode()
    assert "degraded: quota_exhausted" in sources
    assert "unavailable: FLICKR_API_KEY is not set" in sources  # shown, not hidden
    assert "only for endpoints you are allowed to crawl" in sources  # the page parsers
    assert SearchSourceStatus.objects.count() == 5  # every registered source is listed

    throttled["on"] = False  # the quota renewed: resuming asks Openverse again from where it stopped
    job = run_crawl_job(resume_crawl_job(job))
    assert (job.state, job.degraded_sources, job.stored) == ("done", {}, 10)
    assert [c.query.get("q") for c in web.calls if c.bare_path == "/v1/images/"].count("happy people") == 1  # not asked again
    assert SearchSourceStatus.objects.get(engine="openverse").state == "working"


def test_a_job_whose_only_source_fails_at_once_fails_rather_than_ending_done(web, api_settings):
    fake = FakeOpenverse(web, {"q": photos("q", 3, seed=440)})
    fake.hook = lambda request: Route(b"<html><div class='g-recaptcha'></div></html>", status=403, headers={"Content-Type": "text/html"})
    job = run_crawl_job(job_for(["openverse"], ["q"]))
    assert job.state == CrawlJob.State.FAILED and job.error.startswith("every search source failed: openverse: captcha")
    with pytest.raises(CommandError, match="every search source failed"):
        call_command("crawl_job", "resume", str(job.pk))


def test_the_licence_and_its_attribution_reach_the_image_and_its_admin_pages(web, api_settings, admin_client):
    FakeOpenverse(web, {"picnic": [Photo("pic", "Family picnic", "Ana Ruiz", "by-sa", "4.0", seed=450)]})
    job = run_crawl_job(job_for(["openverse"], ["picnic"]))
    assert (job.state, job.stored) == ("done", 1)
    image = Image.objects.get()
    assert (image.license, image.license_code, image.license_url) == ("CC BY-SA 4.0", "by-sa", "https://creativecommons.org/licenses/by-sa/4.0/")
    assert image.creator == "Ana Ruiz" and image.attribution.startswith('"Family picnic" by Ana Ruiz is licensed under CC BY-SA 4.0')
    assert image.page_url == "https://www.flickr.com/photos/someone/pic/" and image.source_record == "picnic"
    item = job.items.get()
    assert item.extra["license_as_given"] == "by-sa 4.0" and item.extra["rank"] == 1 and item.extra["engine"] == "openverse"

    change = admin_client.get(reverse("admin:catalog_image_change", args=[image.pk])).content.decode()
    assert "CC BY-SA 4.0" in change and "Ana Ruiz" in change and "Family picnic" in change
    review = admin_client.get(reverse("admin:quality_image_review", args=[image.pk])).content.decode()
    assert "Licence: <b>CC BY-SA 4.0</b> (by-sa)" in review and "creator: Ana Ruiz" in review
    assert "Attribution: <span class=\"quality-attribution\">&quot;Family picnic&quot; by Ana Ruiz" in review


def test_a_job_restricted_to_commercial_licences_refuses_the_others_and_counts_them(web, api_settings):
    catalogue = {"q": photos("by", 2, license="by", seed=460) + photos("nc", 2, license="by-nc", seed=470) + photos("zero", 1, license="cc0", seed=480)}
    FakeCommons(web, catalogue)  # Commons cannot filter by licence: the door does
    job = run_crawl_job(job_for(["wikimedia"], ["q"], licenses="commercial"))
    assert job.state == "done" and job.stored == 3
    assert job.rejected_by_reason == {"license_not_allowed": 2} and job.refused_for_license == 2
    assert set(Image.objects.values_list("license_code", flat=True)) == {"by", "cc0"}
    refused = job.items.filter(reason="license_not_allowed").first()
    assert "CC BY-NC 2.0 is not allowed here" in refused.detail and refused.fetched_at is None  # never downloaded


@pytest.mark.parametrize(("setting", "stored", "refused"), [("keep", 1, {}), ("refuse", 0, {"license_unknown": 1})])
def test_unknown_licences_are_kept_or_refused_by_the_setting(web, api_settings, setting, stored, refused):
    api_settings.SCRAPER_UNKNOWN_LICENSE = setting
    FakeCommons(web, {"q": [Photo("nolicence", "No licence given", "Someone", "", seed=490)]})
    job = run_crawl_job(job_for(["wikimedia"], ["q"]))
    assert (job.stored, job.rejected_by_reason) == (stored, refused)
    if stored:
        assert Image.objects.get().license_code == "unknown"  # kept, and marked as such


def test_a_job_may_say_otherwise_than_the_setting(web, api_settings):
    FakeCommons(web, {"q": [Photo("nolicence", "No licence given", "Someone", "", seed=491)]})
    job = run_crawl_job(job_for(["wikimedia"], ["q"], unknown_license="refuse"))
    assert job.rejected_by_reason == {"license_unknown": 1}


def test_bad_input_a_result_without_an_image_url_or_with_an_unreadable_licence_is_counted_never_stored(web, api_settings):
    FakeFlickr(web, {"q": [Photo("no-url", "Original not shared", "A", "by", image_url=""), *photos("ok", 1, seed=500)]})
    commons = FakeCommons(web, {"q": [*photos("odd", 1, seed=510), *photos("fine", 1, seed=520)]})
    original = commons.page

    def odd_licence(photo, index, pageid):
        page = original(photo, index, pageid)
        if photo.key == "odd-0":
            meta = page["imageinfo"][0]["extmetadata"]
            meta["LicenseShortName"]["value"] = "Licensed under the photographer's own terms"
            del meta["LicenseUrl"]
        return page

    commons.page = odd_licence
    job = run_crawl_job(job_for(["flickr", "wikimedia"], ["q"]))
    assert job.rejected_by_reason == {"license_unparseable": 1, "no_image_url": 1}
    assert job.stored == 2 and job.state == "done"
    unreadable = job.items.get(reason="license_unparseable")
    assert "Licensed under the photographer's own terms" in unreadable.detail and unreadable.image is None
    assert not Image.objects.filter(license_code="").exists()  # nothing is stored without its licence read


def test_a_query_expansion_over_the_daily_quota_is_refused_at_job_creation_with_the_figures(api_settings, admin_client):
    expansion = [q.as_json() for q in search_queries(template="{emotion} people {activity} in a {place}")]
    assert len(expansion) == 26 * 8 * 10
    with pytest.raises(SourceError) as refused:
        create_crawl_job("search", {"engines": ["flickr", "openverse"], "queries": expansion, "limit": 20})
    assert str(refused.value) == (
        "queries: openverse: 2,080 queries x 1 page(s) of 20 (limit 20) = 2,080 requests, more than its daily quota of 200 "
        "(OPENVERSE_DAILY_QUOTA); at most 200 such queries fit in a day (about 11 days' worth): use fewer words, a lower limit, "
        "or split the job"
    )
    assert not CrawlJob.objects.exists()
    assert create_crawl_job("search", {"engines": ["flickr"], "queries": expansion, "limit": 20}).pk  # 2,081 of Flickr's 86,400

    form = CrawlJobForm(data={"kind": "search", "engines": ["openverse"], "template": "{emotion} people {activity} in a {place}", "limit": 20})
    assert not form.is_valid() and form.errors["template"][0].startswith("openverse: 2,080 queries x 1 page(s)")
    with pytest.raises(CommandError, match=r"^--template: openverse: 2,080 queries x 1 page\(s\) of 20"):
        call_command("scrape", "--engine", "openverse", "--template", "{emotion} people {activity} in a {place}", "--limit", "20")


def test_the_admin_starts_a_search_on_several_sources_with_a_licence_policy(web, api_settings, admin_client, eager_celery,
                                                                             django_capture_on_commit_callbacks):  # fmt: skip
    FakeOpenverse(web, {"kids": photos("ov", 1, seed=530)})
    FakeFlickr(web, {"kids": photos("fl", 1, seed=540)})
    form = admin_client.get(reverse("admin:scraper_crawljob_add")).content.decode()
    assert "flickr: Flickr API" in form and "result pages parsed: only for endpoints you are allowed to crawl" in form
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:scraper_crawljob_add"),
            {"kind": "search", "engines": ["openverse", "flickr"], "queries": "kids", "limit": 5, "licenses": "redistribution"},
        )
    assert response.status_code == 302, response.content.decode()[:3000]
    job = CrawlJob.objects.get()
    assert job.params["engines"] == ["openverse", "flickr"] and job.params["licenses"] == "redistribution"
    assert (job.state, job.stored) == ("done", 2)
    assert {i.source.engine for i in Image.objects.select_related("source")} == {"openverse", "flickr"}


def test_imports_pass_the_same_door(tmp_path, settings):
    """A COCO file's licences (name and URL) are read like a search's; a folder gives none."""
    from tests.catalog.images import jpeg
    from tests.scraper.datasets import coco_person, write_coco

    coco = write_coco(tmp_path / "coco", [{"id": 1, "seed": 560}], [coco_person(1, 1, [10, 10, 100, 200])])
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(jpeg(561))
    call_command("import_dataset", "--format", "coco", str(coco), "--licenses", "commercial")
    image = Image.objects.get(original_database="mscoco")
    assert (image.license, image.license_code, image.license_url) == ("CC BY 2.0", "by", "https://creativecommons.org/licenses/by/2.0/")
    with pytest.raises(CommandError, match="--licenses: unknown licence code 'cc-by'"):
        call_command("import_dataset", "--format", "coco", str(coco), "--licenses", "cc-by,cc0")

    settings.SCRAPER_UNKNOWN_LICENSE = "refuse"
    refused = run_crawl_job(create_crawl_job("folder", {"path": str(folder)}))
    assert (refused.stored, refused.rejected_by_reason) == (0, {"license_unknown": 1})
    call_command("import_dataset", "--format", "folder", str(folder), "--unknown-license", "keep")
    assert Image.objects.get(original_database="local").license_code == "unknown"
