"""The EMOTIC taxonomy: one home for categories, VAD scale, gender and age.

Facts from Kosti et al. (CVPR 2017, TPAMI 2019). The category order is the
alphabetical order that the official code and the common PyTorch baseline use
for array columns, so a category's index here is its column everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from emotic.errors import FieldError


@dataclass(frozen=True)
class Category:
    name: str
    definition: str


CATEGORIES: tuple[Category, ...] = (
    Category("Affection", "fond feelings; love; tenderness"),
    Category("Anger", "intense displeasure or rage; furious; resentful"),
    Category("Annoyance", "bothered by something or someone; irritated; impatient; frustrated"),
    Category("Anticipation", "state of looking forward; hoping on or getting prepared for possible future events"),
    Category("Aversion", "feeling disgust, dislike, repulsion; feeling hate"),
    Category("Confidence", "feeling of being certain; conviction that an outcome will be favorable; encouraged; proud"),
    Category("Disapproval", "feeling that something is wrong or reprehensible; contempt; hostile"),
    Category("Disconnection", "feeling not interested in the main event of the surrounding; indifferent; bored; distracted"),
    Category("Disquietment", "nervous; worried; upset; anxious; tense; pressured; alarmed"),
    Category("Doubt/Confusion", "difficulty to understand or decide; thinking about different options"),
    Category("Embarrassment", "feeling ashamed or guilty"),
    Category("Engagement", "paying attention to something; absorbed into something; curious; interested"),
    Category("Esteem", "feelings of favorable opinion or judgment; respect; admiration; gratefulness"),
    Category("Excitement", "feeling enthusiasm; stimulated; energetic"),
    Category("Fatigue", "weariness; tiredness; sleepy"),
    Category("Fear", "feeling suspicious or afraid of danger, threat, evil or pain; horror"),
    Category("Happiness", "feeling delighted; feeling enjoyment or amusement"),
    Category("Pain", "physical suffering"),
    Category("Peace", "well being and relaxed; no worry; having positive thoughts or sensations; satisfied"),
    Category("Pleasure", "feeling of delight in the senses"),
    Category("Sadness", "feeling unhappy, sorrow, disappointed, or discouraged"),
    Category("Sensitivity", "feeling of being physically or emotionally wounded; feeling delicate or vulnerable"),
    Category("Suffering", "psychological or emotional pain; distressed; anguished"),
    Category("Surprise", "sudden discovery of something unexpected"),
    Category("Sympathy", "state of sharing others emotions, goals or troubles; supportive; compassionate"),
    Category("Yearning", "strong desire to have something; jealous; envious; lust"),
)

CATEGORY_NAMES: tuple[str, ...] = tuple(c.name for c in CATEGORIES)
NUM_CATEGORIES = len(CATEGORIES)
CATEGORY_INDEX: dict[str, int] = {name: i for i, name in enumerate(CATEGORY_NAMES)}
ALL_CATEGORIES_MASK = (1 << NUM_CATEGORIES) - 1

VAD_MIN = 1
VAD_MAX = 10
VAD_DIMENSIONS: tuple[str, ...] = ("valence", "arousal", "dominance")
# Anchor words shown at the ends of each slider (EMOTIC's annotation interface).
VAD_ANCHORS: dict[str, tuple[str, str]] = {
    "valence": ("negative", "positive"),
    "arousal": ("calm", "active"),
    "dominance": ("dominated", "in control"),
}
VAD_DEFINITIONS: dict[str, str] = {
    "valence": "how positive or pleasant the emotion is",
    "arousal": "how agitated or excited the person is, from calm to ready to act",
    "dominance": "how much control the person has over the situation",
}

GENDERS: tuple[str, ...] = ("Male", "Female")


@dataclass(frozen=True)
class AgeGroup:
    name: str
    min_years: int
    max_years: int | None  # None: no upper bound

    @property
    def label(self) -> str:
        if self.max_years is None:
            return f"{self.name} (over {self.min_years - 1})"
        return f"{self.name} ({self.min_years}-{self.max_years})"


AGE_GROUPS: tuple[AgeGroup, ...] = (
    AgeGroup("Kid", 0, 12),
    AgeGroup("Teenager", 13, 20),
    AgeGroup("Adult", 21, None),
)
AGES: tuple[str, ...] = tuple(a.name for a in AGE_GROUPS)

SPLITS: tuple[str, ...] = ("train", "val", "test")
# Annotators per person in each split, as EMOTIC ran it.
DEFAULT_ANNOTATORS_PER_SPLIT: dict[str, int] = {"train": 1, "val": 5, "test": 3}


class TaxonomyError(FieldError):
    """A value outside the taxonomy; ``field`` names the field, ``reason`` the value and the rule."""


def category_index(name: str) -> int:
    try:
        return CATEGORY_INDEX[name]
    except KeyError:
        raise TaxonomyError("categories", f"unknown category {name!r}") from None


def categories_to_mask(names: Iterable[str]) -> int:
    """Pack category names into a 26-bit mask (bit i is column i)."""
    mask = 0
    for name in names:
        mask |= 1 << category_index(name)
    return mask


def mask_to_categories(mask: int) -> list[str]:
    """Unpack a mask into names, in taxonomy order."""
    if not 0 <= mask <= ALL_CATEGORIES_MASK:
        raise TaxonomyError("categories", f"mask {mask} is outside 0..{ALL_CATEGORIES_MASK}")
    return [name for i, name in enumerate(CATEGORY_NAMES) if mask >> i & 1]


def validate_vad(field: str, value: object) -> int:
    """Return the value as an int in 1..10, or raise naming the field."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TaxonomyError(field, f"must be an integer from {VAD_MIN} to {VAD_MAX}, got {value!r}")
    if not VAD_MIN <= value <= VAD_MAX:
        raise TaxonomyError(field, f"must be from {VAD_MIN} to {VAD_MAX}, got {value}")
    return value


def validate_gender(value: object) -> str:
    if value not in GENDERS:
        raise TaxonomyError("gender", f"must be one of {', '.join(GENDERS)}, got {value!r}")
    return value  # type: ignore[return-value]


def validate_age(value: object) -> str:
    if value not in AGES:
        raise TaxonomyError("age", f"must be one of {', '.join(AGES)}, got {value!r}")
    return value  # type: ignore[return-value]
