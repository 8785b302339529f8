"""Show a trained model's predictions for the people of an image (the admin review pages).

The review page belongs to quality, which knows nothing of models: this
module adds the predictions as a review panel (``PREDICTIONS_PANEL``,
registered by ``TrainingConfig.ready``). Checkpoints live in storage; each
web process keeps the last few loaded predictors, so paging through images
does not reload the weights.
"""

from __future__ import annotations

import shutil
import threading
from collections import OrderedDict
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from annotator.models import Person
from catalog.files import open_stored
from catalog.models import Image
from quality.review_panels import PanelContent, ReviewPanel
from training.models import TrainingRun

_CACHE_SIZE = 2
_predictors: OrderedDict = OrderedDict()
_lock = threading.Lock()


class PredictionUnavailable(Exception):
    """Why no prediction can be shown; the message is for the admin."""


def usable_runs():
    return TrainingRun.objects.filter(state=TrainingRun.State.SUCCEEDED).exclude(checkpoint_key="").select_related("snapshot")


def _checkpoint_path(run: TrainingRun) -> Path:
    try:
        return Path(default_storage.path(run.checkpoint_key))
    except NotImplementedError:
        local = Path(settings.TRAINING_WORK_DIR) / "predictors" / f"run-{run.pk}.pt"
        if not local.exists():
            local.parent.mkdir(parents=True, exist_ok=True)
            partial = local.with_suffix(".partial")
            with default_storage.open(run.checkpoint_key, "rb") as source, partial.open("wb") as target:
                shutil.copyfileobj(source, target)
            partial.rename(local)
        return local


def predictor_for(run: TrainingRun):
    try:
        from training.core.checkpoint import CheckpointError
        from training.core.predict import load_predictor
    except ImportError as error:
        raise PredictionUnavailable(
            f"the training requirements are not installed on this web server ({error.name} is missing)"
        ) from None
    with _lock:
        if run.pk in _predictors:
            _predictors.move_to_end(run.pk)
            return _predictors[run.pk]
    if not default_storage.exists(run.checkpoint_key):
        raise PredictionUnavailable(f"the checkpoint {run.checkpoint_key} of run {run.pk} is missing from storage")
    try:
        predictor = load_predictor(_checkpoint_path(run), device="cpu")
    except CheckpointError as error:  # corrupt, foreign, or weights that do not fit the stored mode
        raise PredictionUnavailable(f"the checkpoint of run {run.pk} cannot be used ({error})") from None
    with _lock:
        _predictors[run.pk] = predictor
        while len(_predictors) > _CACHE_SIZE:
            _predictors.popitem(last=False)
    return predictor


def predictions_for_image(run: TrainingRun, image: Image) -> dict[int, dict]:
    """Person id -> {"categories", "scores", "vad"} for every person of ``image``.

    Anything the admin can fix or should know (a lost image file, a box
    outside the picture) is a PredictionUnavailable, shown on the page.
    """
    from training.core.predict import PredictionInputError

    predictor = predictor_for(run)
    try:
        with open_stored(image.storage_key) as handle:
            picture = PILImage.open(handle)
            picture.load()
    except FileNotFoundError:
        raise PredictionUnavailable(f"the image file {image.storage_key} is missing from storage") from None
    except (UnidentifiedImageError, OSError) as error:
        raise PredictionUnavailable(f"the image file {image.storage_key} is not a readable image ({error})") from None
    picture = picture.convert("RGB")
    results = {}
    for person in image.people.filter(box_status=Person.BoxStatus.FINAL).order_by("id"):
        try:
            prediction = predictor.predict(picture, [person.x1, person.y1, person.x2, person.y2])
        except PredictionInputError as error:
            raise PredictionUnavailable(f"person {person.pk}: {error}") from None
        results[person.pk] = {
            "categories": prediction.categories,
            "vad": {name: round(value, 2) for name, value in prediction.vad.items()},
            "top": sorted(prediction.scores.items(), key=lambda item: -item[1])[:3],
        }
    return results


def predictions_panel_content(request, image: Image) -> PanelContent:
    """The trained models to choose from and, for the chosen one (``?model=<run id>``), its predictions."""
    runs = list(usable_runs())
    chosen = next((run for run in runs if str(run.pk) == request.GET.get("model", "")), None)
    content = PanelContent({"model_runs": runs, "chosen_run": chosen, "prediction_error": ""})
    if chosen is not None:
        try:
            content.per_person = predictions_for_image(chosen, image)
        except PredictionUnavailable as error:
            content.context["prediction_error"] = str(error)
    return content


PREDICTIONS_PANEL = ReviewPanel(
    name="training.predictions",
    template="admin/training/review_predictions.html",
    person_template="admin/training/review_prediction_row.html",
    build=predictions_panel_content,
)
