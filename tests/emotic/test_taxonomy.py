"""The taxonomy is the single source of the EMOTIC vocabulary; its order is the array column order."""

import pytest

from emotic import taxonomy
from emotic.taxonomy import (
    AGES,
    CATEGORY_NAMES,
    GENDERS,
    TaxonomyError,
    categories_to_mask,
    mask_to_categories,
    validate_age,
    validate_gender,
    validate_vad,
)

DESIGN_ORDER = [
    "Affection", "Anger", "Annoyance", "Anticipation", "Aversion", "Confidence", "Disapproval",
    "Disconnection", "Disquietment", "Doubt/Confusion", "Embarrassment", "Engagement", "Esteem",
    "Excitement", "Fatigue", "Fear", "Happiness", "Pain", "Peace", "Pleasure", "Sadness",
    "Sensitivity", "Suffering", "Surprise", "Sympathy", "Yearning",
]


def test_the_26_categories_are_in_the_alphabetical_order_of_the_official_files():
    assert list(CATEGORY_NAMES) == DESIGN_ORDER
    assert list(CATEGORY_NAMES) == sorted(CATEGORY_NAMES)


def test_every_category_has_a_definition():
    assert all(c.definition.strip() for c in taxonomy.CATEGORIES)
    assert dict((c.name, c.definition) for c in taxonomy.CATEGORIES)["Doubt/Confusion"] == (
        "difficulty to understand or decide; thinking about different options"
    )


def test_scales_and_demographics():
    assert (taxonomy.VAD_MIN, taxonomy.VAD_MAX) == (1, 10)
    assert taxonomy.VAD_DIMENSIONS == ("valence", "arousal", "dominance")
    assert GENDERS == ("Male", "Female")
    assert AGES == ("Kid", "Teenager", "Adult")
    assert [a.label for a in taxonomy.AGE_GROUPS] == ["Kid (0-12)", "Teenager (13-20)", "Adult (over 20)"]
    assert taxonomy.DEFAULT_ANNOTATORS_PER_SPLIT == {"train": 1, "val": 5, "test": 3}


def test_category_masks_round_trip_in_taxonomy_order():
    chosen = ["Yearning", "Affection", "Doubt/Confusion"]
    mask = categories_to_mask(chosen)
    assert mask == (1 << 0) | (1 << 9) | (1 << 25)
    assert mask_to_categories(mask) == ["Affection", "Doubt/Confusion", "Yearning"]
    assert mask_to_categories(taxonomy.ALL_CATEGORIES_MASK) == list(CATEGORY_NAMES)


def test_unknown_category_names_the_field_and_value():
    with pytest.raises(TaxonomyError, match=r"categories: unknown category 'Joy'"):
        categories_to_mask(["Happiness", "Joy"])
    with pytest.raises(TaxonomyError, match="categories"):
        mask_to_categories(1 << 26)


@pytest.mark.parametrize("value", [0, 11, -1, 5.5, "5", True, None])
def test_vad_outside_1_to_10_is_refused_with_the_field_name(value):
    with pytest.raises(TaxonomyError, match="^arousal: "):
        validate_vad("arousal", value)


def test_valid_values_pass():
    assert validate_vad("valence", 1) == 1 and validate_vad("valence", 10) == 10
    assert validate_gender("Female") == "Female"
    assert validate_age("Teenager") == "Teenager"
    with pytest.raises(TaxonomyError, match="^gender: "):
        validate_gender("female")
    with pytest.raises(TaxonomyError, match="^age: "):
        validate_age("Elder")
