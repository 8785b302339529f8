"""How fast the quality figures are at EMOTIC's size; prints the figures (run by hand, never by CI).

A synthetic crowd is bulk-inserted into its own PostgreSQL database, created
here: 34,320 people (EMOTIC's count) in 23,554 images split 70/10/20, each
person answered by 3 to 5 of 2,000 workers (one task row per answer, a few
skips), and 10 hidden control answers per worker, 3% of workers being
careless (they fail controls and answer at random). Then it times:

- figures: from PostgreSQL to every finished figure, nothing stored (load the
  counted answers, agreement per scope, combined labels by union, majority
  and Dawid-Skene, per-person figures, every worker's figures);
- the full recomputation ``recompute_quality()`` with its writes, twice: the
  first run also blocks the careless workers, the second is the steady state;
- the ``krippendorff`` package and statsmodels' Fleiss' kappa on the same
  arrays, against ``emotic``'s vectorised code (time ratio and largest
  difference).

Peak memory is measured in a second pass under tracemalloc (which slows
Python), so the times above are not inflated by it.

    .venv/bin/python bench/bench_quality.py                   # EMOTIC's size
    .venv/bin/python bench/bench_quality.py --people 3000 --workers 300
    .venv/bin/python bench/bench_quality.py --reuse           # skip the 2-3 minute fill
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
import tracemalloc
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.databases import local_database_url, recreate_database, start_django  # noqa: E402

from emotic.taxonomy import AGES, CATEGORY_NAMES, GENDERS  # noqa: E402

IMAGES_PER_PERSON = 23_554 / 34_320  # EMOTIC: 23,554 images for 34,320 people
SPLIT_SHARES = {"train": 0.7, "val": 0.1, "test": 0.2}
CONTROLS_PER_WORKER = 10
GOLD_ITEMS = 200
CARELESS_SHARE = 0.03
# Skewed like EMOTIC's labels (Engagement on most people, Embarrassment on few).
CATEGORY_PROBABILITY = np.array([
    {"Engagement": 0.55, "Anticipation": 0.25, "Happiness": 0.22, "Confidence": 0.2, "Excitement": 0.15,
     "Pleasure": 0.13, "Peace": 0.12, "Affection": 0.08, "Disconnection": 0.08, "Esteem": 0.06,
     "Sympathy": 0.05, "Doubt/Confusion": 0.05}.get(name, 0.025)
    for name in CATEGORY_NAMES
])


@contextmanager
def timed(figures: dict, name: str):
    start = time.perf_counter()
    yield
    figures[name] = time.perf_counter() - start
    print(f"  {name:<52} {figures[name]:8.2f} s", flush=True)


def mask_of(chosen: np.ndarray) -> int:
    return int((chosen.astype(np.int64) << np.arange(len(CATEGORY_NAMES))).sum())


def fill_database(n_people: int, n_workers: int, annotators: tuple[int, int], seed: int) -> dict[str, int]:
    """Bulk-insert the synthetic crowd; returns row counts."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from annotator.models import EmotionAnnotation, GoldItem, Person, TaskAssignment, Worker
    from catalog.models import Image
    from catalog.models import Source

    rng = np.random.default_rng(seed)
    now = timezone.now()
    expires = now + timedelta(days=1)
    careful = rng.random(n_workers) >= CARELESS_SHARE
    sensitivity = np.where(careful, rng.uniform(0.6, 0.95, n_workers), 0.1)
    false_positive = np.where(careful, rng.uniform(0.005, 0.04, n_workers), 0.2)
    with transaction.atomic():
        source = Source.objects.create(kind="bundled", name="bench_quality synthetic")
        User = get_user_model()
        users = User.objects.bulk_create(User(username=f"bench-worker-{k}", password="!") for k in range(n_workers))
        workers = Worker.objects.bulk_create(Worker(user=u, qualification="qualified", qualified_at=now) for u in users)

        n_images = max(1, round(n_people * IMAGES_PER_PERSON))
        splits = rng.choice(list(SPLIT_SHARES), n_images, p=list(SPLIT_SHARES.values()))
        images = Image.objects.bulk_create(
            [
                Image(source=source, storage_key=f"bench/{k:06d}.jpg", sha256=f"{k:064x}", phash="0" * 16, width=640,
                      height=480, format="JPEG", original_database="mscoco", folder="mscoco/images",
                      filename=f"{k:06d}.jpg", fetched_at=now, split=str(splits[k]) if k < n_images else "", boxes_confirmed=True)
                for k in range(n_images + GOLD_ITEMS)
            ],
            batch_size=5000,
        )
        image_of_person = np.concatenate([np.arange(n_images), rng.integers(0, n_images, n_people - n_images)])
        people = Person.objects.bulk_create(
            [Person(image=images[i], x1=10, y1=10, x2=300, y2=470, image_width=640, image_height=480,
                    box_origin="imported") for i in image_of_person]
            + [Person(image=images[n_images + g], x1=10, y1=10, x2=300, y2=470, image_width=640, image_height=480,
                      box_origin="imported") for g in range(GOLD_ITEMS)],
            batch_size=5000,
        )
        gold_people, people = people[n_people:], people[:n_people]
        golds = GoldItem.objects.bulk_create(
            GoldItem(kind="emotions", person=p, required_categories_mask=1 << CATEGORY_NAMES.index("Engagement"))
            for p in gold_people
        )

        truth = rng.random((n_people, len(CATEGORY_NAMES))) < CATEGORY_PROBABILITY
        truth_vad = rng.uniform(2, 9, (n_people, 3))
        annotations, tasks = [], []
        answered = np.zeros(n_workers, dtype=np.int64)
        for p, person in enumerate(people):
            for w in rng.choice(n_workers, int(rng.integers(annotators[0], annotators[1] + 1)), replace=False):
                chosen = np.where(truth[p], rng.random(26) < sensitivity[w], rng.random(26) < false_positive[w])
                if not chosen.any():
                    chosen[CATEGORY_NAMES.index("Engagement")] = True
                noise = 1.2 if careful[w] else 4.0
                v, a, d = (int(x) for x in np.clip(np.rint(truth_vad[p] + rng.normal(0, noise, 3)), 1, 10))
                task = TaskAssignment(worker=workers[w], kind="emotions", person=person, state="submitted",
                                      expires_at=expires, finished_at=now)
                tasks.append(task)
                annotations.append(EmotionAnnotation(
                    person=person, worker=workers[w], assignment=task, categories_mask=mask_of(chosen),
                    valence=v, arousal=a, dominance=d, gender=GENDERS[int(rng.integers(2))],
                    age=AGES[int(rng.integers(3))], seconds_spent=float(rng.gamma(4, 8)), status="submitted",
                ))
                answered[w] += 1
        # Controls: each worker answers 10 distinct gold items over the last days.
        for w, worker in enumerate(workers):
            for k, g in enumerate(rng.choice(GOLD_ITEMS, CONTROLS_PER_WORKER, replace=False)):
                passed = bool(rng.random() < (0.95 if careful[w] else 0.3))
                task = TaskAssignment(worker=worker, kind="emotions", person=golds[g].person, gold_item=golds[g],
                                      state="submitted", gold_passed=passed, expires_at=expires,
                                      finished_at=now - timedelta(hours=CONTROLS_PER_WORKER - k))
                tasks.append(task)
                annotations.append(EmotionAnnotation(
                    person=golds[g].person, worker=worker, assignment=task,
                    categories_mask=1 << CATEGORY_NAMES.index("Engagement" if passed else "Anger"),
                    valence=5, arousal=5, dominance=5, gender="Male", age="Adult", seconds_spent=30.0, is_gold=True,
                ))
        TaskAssignment.objects.bulk_create(tasks, batch_size=5000)
        for annotation in annotations:
            annotation.assignment_id = annotation.assignment.pk
        EmotionAnnotation.objects.bulk_create(annotations, batch_size=5000)
        # Some skipped tasks: about 4% of each worker's tasks, on people they did not answer.
        annotated = set(EmotionAnnotation.objects.values_list("worker_id", "person_id"))
        skips = []
        for w, worker in enumerate(workers):
            for p in rng.choice(n_people, int(rng.binomial(max(answered[w], 1), 0.04)), replace=False):
                if (worker.pk, people[p].pk) not in annotated:
                    skips.append(TaskAssignment(worker=worker, kind="emotions", person=people[p], state="skipped",
                                                expires_at=expires, finished_at=now))
        TaskAssignment.objects.bulk_create(skips, batch_size=5000)
    return {
        "images": n_images, "people": n_people, "workers": n_workers, "careless workers": int((~careful).sum()),
        "answers": len(annotations) - n_workers * CONTROLS_PER_WORKER,
        "control answers": n_workers * CONTROLS_PER_WORKER, "task rows": len(tasks) + len(skips),
    }


def all_figures(methods: tuple[str, ...] = ("union", "majority", "dawid_skene")) -> dict:
    """From PostgreSQL to every figure, stored nowhere: what the recomputation computes."""
    from quality import selectors
    from quality.figures import combined_labels, dataset_figures, person_figures, subset_labels
    from quality.services import REPORT_SCOPES, scope_rows
    from quality.worker_figures import compute_worker_figures

    people = selectors.counted_people_arrays()
    labels = combined_labels(people, methods)
    scopes = {}
    for scope in REPORT_SCOPES:
        rows = scope_rows(people, scope)
        if rows.any():
            scopes[scope] = dataset_figures(people.subset(rows), {m: subset_labels(lab, rows) for m, lab in labels.items()})
    return {"people": people, "labels": labels, "scopes": scopes, "persons": person_figures(people),
            "workers": compute_worker_figures(None, people)}


def bench_figures(figures: dict) -> dict:
    from quality import selectors
    from quality.figures import combined_labels, dataset_figures, person_figures
    from quality.worker_figures import compute_worker_figures

    with timed(figures, "figures, end to end (PostgreSQL -> all figures)"):
        result = all_figures()
    with timed(figures, "the same without Dawid-Skene labels"):
        all_figures(("union", "majority"))
    print("  of which:")
    with timed(figures, "  load counted answers into arrays"):
        people = selectors.counted_people_arrays()
    with timed(figures, "  agreement figures (all people, one scope)"):
        dataset_figures(people)
    for method in ("union", "majority", "dawid_skene"):
        with timed(figures, f"  combined labels: {method}"):
            combined_labels(people, (method,))
    with timed(figures, "  per-person figures"):
        person_figures(people)
    with timed(figures, "  worker figures (incl. their queries)"):
        compute_worker_figures(None, people)
    return result


def bench_references(result: dict, figures: dict) -> None:
    """The same figures by the krippendorff package and statsmodels, on the same arrays."""
    import krippendorff
    from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss_kappa

    from emotic.agreement import person_kappa
    from emotic.krippendorff_alpha import interval_alpha, nominal_alpha, nominal_alpha_from_counts

    arrays = result["people"].arrays
    choices = np.where(arrays.present[:, :, None], arrays.choices, np.nan).astype(float)
    vad = np.where(arrays.present[:, :, None], arrays.vad, np.nan)

    with timed(figures, "emotic: nominal alpha, 26 categories"):
        # As agreement_summary computes it: from chosen / not chosen counts per person.
        chosen = arrays.choices.sum(axis=1)
        raters = arrays.present.sum(axis=1)
        ours = nominal_alpha_from_counts(np.stack([chosen, raters[:, None] - chosen], axis=1))
    with timed(figures, "emotic: nominal alpha from raw values, 26 categories"):
        from_values = nominal_alpha(choices)
    with timed(figures, "krippendorff package: nominal alpha, 26 categories"):
        theirs = np.array([krippendorff.alpha(reliability_data=choices[:, :, c].T, level_of_measurement="nominal")
                           for c in range(choices.shape[2])])
    figures["nominal alpha: largest difference"] = float(
        max(np.nanmax(np.abs(ours - theirs)), np.nanmax(np.abs(from_values - theirs))))
    with timed(figures, "emotic: interval alpha, 3 VAD dimensions"):
        ours = interval_alpha(vad)
    with timed(figures, "krippendorff package: interval alpha, 3 VAD dimensions"):
        theirs = np.array([krippendorff.alpha(reliability_data=vad[:, :, d].T, level_of_measurement="interval")
                           for d in range(3)])
    figures["interval alpha: largest difference"] = float(np.nanmax(np.abs(ours - theirs)))

    with timed(figures, "emotic: Fleiss' kappa per person"):
        ours = person_kappa(arrays.choices, arrays.present)
    with timed(figures, "statsmodels: Fleiss' kappa per person (a loop)"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        theirs = np.array([statsmodels_fleiss_kappa(np.stack([chosen[p], raters[p] - chosen[p]], axis=1))
                           for p in range(len(chosen))])
    figures["person kappa: largest difference"] = float(np.nanmax(np.abs(ours - theirs)))
    figures["ratio krippendorff/emotic (nominal)"] = (
        figures["krippendorff package: nominal alpha, 26 categories"] / figures["emotic: nominal alpha, 26 categories"])
    figures["ratio krippendorff/emotic (interval)"] = (
        figures["krippendorff package: interval alpha, 3 VAD dimensions"] / figures["emotic: interval alpha, 3 VAD dimensions"])
    figures["ratio statsmodels/emotic (person kappa)"] = (
        figures["statsmodels: Fleiss' kappa per person (a loop)"] / figures["emotic: Fleiss' kappa per person"])
    for name in ("nominal alpha: largest difference", "interval alpha: largest difference",
                 "person kappa: largest difference"):
        print(f"  {name:<52} {figures[name]:.2e}")
    for name in ("ratio krippendorff/emotic (nominal)", "ratio krippendorff/emotic (interval)",
                 "ratio statsmodels/emotic (person kappa)"):
        print(f"  {name:<52} {figures[name]:8.1f} x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=34_320)
    parser.add_argument("--workers", type=int, default=2_000)
    parser.add_argument("--min-annotators", type=int, default=3)
    parser.add_argument("--max-annotators", type=int, default=5)
    parser.add_argument("--database", default="bench_quality")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse", action="store_true", help="time on the database a previous run filled")
    args = parser.parse_args()
    if not 1 <= args.min_annotators <= args.max_annotators <= args.workers:
        parser.error("--min-annotators/--max-annotators: need 1 <= min <= max <= --workers")
    if args.people < 1:
        parser.error(f"--people: must be at least 1, got {args.people}")

    figures: dict[str, float] = {}
    print(f"quality: database {args.database}, {args.people} people, {args.workers} workers, "
          f"{args.min_annotators}-{args.max_annotators} annotators", flush=True)
    if args.reuse:
        start_django(local_database_url(args.database))
        from quality.models import QualityReport

        QualityReport.objects.all().delete()
        print("  reusing the database as a previous run left it (careless workers already blocked)")
    else:
        with timed(figures, "create + migrate database (setup)"):
            start_django(recreate_database(local_database_url(args.database)))
        with timed(figures, "bulk insert + ANALYZE (setup)"):
            counts = fill_database(args.people, args.workers, (args.min_annotators, args.max_annotators), args.seed)
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")  # the planner statistics autovacuum would gather
        print("  " + ", ".join(f"{v} {k}" for k, v in counts.items()))

    result = bench_figures(figures)
    val = result["scopes"].get("val", {})
    print(f"  val: mean category kappa {val.get('mean_category_kappa')}, vad spread {val.get('vad_spread')}")

    from quality.services import recompute_quality

    with timed(figures, "recompute_quality(), first run (blocks, then stores)"):
        first = recompute_quality("command")
    with timed(figures, "recompute_quality(), steady state"):
        recompute_quality("command")
    print(f"  the first run blocked {first.workers_blocked} careless worker(s)")

    bench_references(result, figures)

    tracemalloc.start()
    all_figures()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    figures["peak traced memory, figures end to end (MiB)"] = peak / 2**20
    figures["peak resident memory of the process (MiB)"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak traced memory, figures end to end        {figures['peak traced memory, figures end to end (MiB)']:8.1f} MiB")
    print(f"  peak resident memory of the whole process     {figures['peak resident memory of the process (MiB)']:8.1f} MiB")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
