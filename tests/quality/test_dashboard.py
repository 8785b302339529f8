"""The quality dashboard: the right numbers on the page, its plots and the same figures as CSV."""

import csv
import io
import re

import pytest
from django.urls import reverse

from annotator.models import EmotionAnnotation
from quality.figures import display
from quality.models import PersonAgreement, QualityReport
from quality.services import recompute_quality
from emotic.agreement import agreement_summary
from emotic.annotation_arrays import AnnotationArrays, EmotionAnswer
from emotic.taxonomy import CATEGORY_NAMES, VAD_DIMENSIONS
from tests.quality.conftest import control_answers

pytestmark = pytest.mark.django_db
DASHBOARD = "admin:quality_qualityreport_changelist"
PNG = b"\x89PNG\r\n\x1a\n"


def no_nan(text: str) -> bool:
    return re.search(r"\bnan\b", text, re.IGNORECASE) is None


def val_summary():
    people: dict[int, list] = {}
    for a in EmotionAnnotation.objects.filter(person__image__split="val", status="submitted", is_gold=False).order_by(
        "person_id", "created_at", "id"
    ):
        people.setdefault(a.person_id, []).append(
            EmotionAnswer(a.worker_id, a.categories_mask, a.valence, a.arousal, a.dominance)
        )
    arrays = AnnotationArrays.from_answers(list(people.values()))
    return agreement_summary(arrays.choices, arrays.present, arrays.vad)


def figure_cell(html: str, name: str) -> str:
    match = re.search(rf"<th>{re.escape(name)}</th><td class=\"figure\">([^<]*)</td>", html)
    assert match, name
    return match.group(1)


def test_without_a_report_the_page_says_so(db, admin_client):
    response = admin_client.get(reverse(DASHBOARD))
    assert response.status_code == 200
    html = response.content.decode()
    assert "No quality report yet" in html and no_nan(html)
    assert admin_client.get(reverse("admin:quality_qualityreport_plot", args=["category-kappa"])).status_code == 404
    assert admin_client.get(reverse("admin:quality_qualityreport_csv", args=["vad-spread"])).status_code == 404


def test_the_page_shows_the_figures_of_the_chosen_split(review_data, admin_client):
    recompute_quality()
    summary = val_summary()
    html = admin_client.get(reverse(DASHBOARD), {"split": "val"}).content.decode()
    assert figure_cell(html, "People") == "2"
    assert figure_cell(html, "Answers") == "7"
    assert figure_cell(html, "People with two or more annotators") == "2"
    assert figure_cell(html, "People by number of annotators") == "3: 1, 4: 1"
    assert figure_cell(html, "Mean Fleiss&#x27; kappa over categories") == display(summary.mean_category_kappa, 3)
    assert figure_cell(html, "Mean Fleiss&#x27; kappa over people") == display(summary.mean_person_kappa, 3)
    assert figure_cell(html, "People with kappa above 0.30") == display(summary.share_people_above_threshold, 1, percent=True)
    assert figure_cell(html, "Krippendorff&#x27;s alpha, categories pooled (nominal)") == display(summary.pooled_category_alpha, 3)
    for d, name in enumerate(VAD_DIMENSIONS):
        assert figure_cell(html, f"{name.capitalize()}: mean std across annotators") == display(summary.vad_spread[d], 2)
        assert figure_cell(html, f"{name.capitalize()}: Krippendorff&#x27;s alpha (interval)") == display(summary.vad_alpha[d], 3)
    assert "<td>1.04</td>" in html and "<td>1.57</td>" in html and "<td>1.84</td>" in html and "<td>0.30</td>" in html
    happiness = CATEGORY_NAMES.index("Happiness")
    row = re.search(r"<tr><th>Happiness</th><td>([^<]*)</td><td>([^<]*)</td><td>(\d+)</td>", html)
    assert row.groups() == (display(summary.category_kappa[happiness], 3), display(summary.category_alpha[happiness], 3), "3")
    assert re.search(r"<tr><th>Anger</th><td>n/a</td><td>n/a</td><td>0</td>", html)  # nobody chose it
    assert no_nan(html)
    # "all" holds the train person too.
    html = admin_client.get(reverse(DASHBOARD)).content.decode()
    assert figure_cell(html, "People") == "3"


def test_plots_are_png_for_every_split(review_data, admin_client):
    recompute_quality()
    html = admin_client.get(reverse(DASHBOARD), {"split": "val"}).content.decode()
    shown = re.findall(r'<img src="([^"]+)"', html)
    assert shown == [
        f"{reverse('admin:quality_qualityreport_plot', args=[name])}?split=val"
        for name in ("category-kappa", "person-kappa", "vad-spread", "worker-accuracy")
    ]
    for src in shown:  # every picture on the page is one the server draws
        assert admin_client.get(src).content.startswith(PNG)
    for split in ("all", "val", "train"):
        for name in ("category-kappa", "person-kappa", "vad-spread", "worker-accuracy"):
            response = admin_client.get(reverse("admin:quality_qualityreport_plot", args=[name]), {"split": split})
            assert response.status_code == 200 and response["Content-Type"] == "image/png"
            assert response.content.startswith(PNG)
    assert admin_client.get(reverse("admin:quality_qualityreport_plot", args=["pie"])).status_code == 404
    response = admin_client.get(reverse("admin:quality_qualityreport_plot", args=["vad-spread"]), {"split": "x"})
    assert response.status_code == 404


def read_csv(response) -> list[dict]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = response.content.decode()
    assert no_nan(text)
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_files_hold_the_plotted_figures(review_data, admin_client, settings):
    settings.QUALITY_GOLD_WINDOW = 10
    control_answers(review_data.workers[0], [True, False, True, True])
    report = recompute_quality()
    val = report.figures["val"]
    url = lambda name: reverse("admin:quality_qualityreport_csv", args=[name])  # noqa: E731

    categories = read_csv(admin_client.get(url("category-kappa"), {"split": "val"}))
    assert [r["category"] for r in categories] == list(CATEGORY_NAMES)
    for row, kappa, alpha in zip(categories, val["category_kappa"], val["category_alpha"]):
        assert row["fleiss_kappa"] == ("" if kappa is None else repr(kappa))
        assert row["krippendorff_alpha"] == ("" if alpha is None else repr(alpha))
    sadness = categories[CATEGORY_NAMES.index("Sadness")]
    assert (sadness["positive_union"], sadness["positive_majority"]) == ("1", "0")

    vad = read_csv(admin_client.get(url("vad-spread"), {"split": "val"}))
    assert [(r["dimension"], float(r["mean_std"]), r["tpami_std"]) for r in vad] == [
        (d, pytest.approx(val["vad_spread"][d]), t) for d, t in zip(VAD_DIMENSIONS, ("1.04", "1.57", "1.84"))
    ]

    people = read_csv(admin_client.get(url("person-kappa"), {"split": "val"}))
    stored = {a.person_id: a for a in PersonAgreement.objects.filter(person__image__split="val")}
    assert {int(r["person_id"]) for r in people} == set(stored)
    for row in people:
        assert float(row["fleiss_kappa"]) == pytest.approx(stored[int(row["person_id"])].fleiss_kappa)
    everyone = read_csv(admin_client.get(url("person-kappa")))
    train_row = next(r for r in everyone if int(r["person_id"]) == review_data.train_person.pk)
    assert train_row["fleiss_kappa"] == "" and train_row["valence_std"] == "" and train_row["union_categories"] == "Peace"

    workers = read_csv(admin_client.get(url("worker-accuracy")))
    by_id = {int(r["worker_id"]): r for r in workers}
    assert float(by_id[review_data.workers[0].pk]["gold_accuracy"]) == 0.75
    assert by_id[review_data.workers[1].pk]["gold_accuracy"] == ""  # no gold answers yet


def test_csv_cells_a_spreadsheet_would_run_are_escaped_and_numbers_stay_numbers(review_data, admin_client):
    """Worker names like +1+1, -2+3 or @SUM(A1) stay text in the CSV; a negative figure stays a number."""
    names = ["+1+1", "-2+3", "@SUM(A1)", "=HYPERLINK(1)"]
    for worker, name in zip(review_data.workers, names):
        worker.user.username = name
        worker.user.save(update_fields=["username"])
    review_data.workers[0].consensus_agreement = -0.25
    review_data.workers[0].save(update_fields=["consensus_agreement"])
    workers = read_csv(admin_client.get(reverse("admin:quality_qualityreport_csv", args=["worker-accuracy"])))
    by_id = {int(r["worker_id"]): r for r in workers}
    assert [by_id[w.pk]["username"] for w in review_data.workers] == ["'" + name for name in names]
    assert by_id[review_data.workers[0].pk]["consensus_agreement"] == "-0.25"


def test_the_worker_summary(review_data, admin_client):
    control_answers(review_data.workers[0], [True, True, False, True])
    recompute_quality()
    html = admin_client.get(reverse(DASHBOARD)).content.decode()
    accuracy = re.search(r"<th>Mean gold accuracy</th><td>([^<]*)</td>", html).group(1)
    assert accuracy == "75.0%"
    assert re.search(r"<th>With gold answers</th><td>1</td>", html)


def test_recompute_now_runs_in_the_background(review_data, admin_client, tasks_run_inline,
                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:quality_qualityreport_recompute"))
    assert response.status_code == 302
    assert QualityReport.objects.get().trigger == "admin"
    assert admin_client.get(reverse("admin:quality_qualityreport_recompute")).status_code == 405


def test_a_bad_split_is_named(db, admin_client):
    response = admin_client.get(reverse(DASHBOARD), {"split": "holdout"}, follow=True)
    assert "Split: must be one of all, train, val, test, unassigned, got &#x27;holdout&#x27;" in response.content.decode()


def test_a_split_with_no_answers_reads_not_defined(review_data, admin_client):
    recompute_quality()
    html = admin_client.get(reverse(DASHBOARD), {"split": "test"}).content.decode()
    assert "No counted answers in test: nothing to measure (n/a)." in html and no_nan(html)
    response = admin_client.get(reverse("admin:quality_qualityreport_plot", args=["person-kappa"]), {"split": "test"})
    assert response.status_code == 200 and response.content.startswith(PNG)
