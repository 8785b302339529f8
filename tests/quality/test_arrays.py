"""The vectorised array builder gives exactly what ``AnnotationArrays.from_answers`` gives."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from quality.arrays import AnswerRows, build_people_arrays, masks_from_choices
from emotic.annotation_arrays import AnnotationArrays, EmotionAnswer
from emotic.taxonomy import AGES, ALL_CATEGORIES_MASK, GENDERS


def random_rows(seed: int, people: int, max_answers: int):
    rng = np.random.default_rng(seed)
    values, answer_id = [], 0
    person_ids = rng.permutation(1000)[:people] + 1
    for person in person_ids:
        for worker in rng.permutation(50)[: rng.integers(1, max_answers + 1)]:
            answer_id += 1
            values.append((
                answer_id, int(person), int(worker) + 1, int(rng.integers(1, ALL_CATEGORIES_MASK + 1)),
                *(int(v) for v in rng.integers(1, 11, 3)), str(rng.choice(GENDERS)), str(rng.choice(AGES)),
                str(rng.choice(["train", "val", "test", ""])),
            ))
    return values


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), people=st.integers(1, 15), max_answers=st.integers(1, 6))
def test_builder_matches_from_answers(seed, people, max_answers):
    values = random_rows(seed, people, max_answers)
    built = build_people_arrays(AnswerRows.from_values(values))

    by_person: dict[int, list] = {}
    for answer_id, person, worker, mask, v, a, d, gender, age, split in values:
        by_person.setdefault(person, []).append(EmotionAnswer(worker, mask, v, a, d, gender, age))
    reference = AnnotationArrays.from_answers(list(by_person.values()))

    assert built.person_ids.tolist() == list(by_person)
    np.testing.assert_array_equal(built.arrays.choices, reference.choices)
    np.testing.assert_array_equal(built.arrays.present, reference.present)
    np.testing.assert_array_equal(built.arrays.vad, reference.vad)
    np.testing.assert_array_equal(built.arrays.gender, reference.gender)
    np.testing.assert_array_equal(built.arrays.age, reference.age)
    # Worker indices differ in order; the worker ids in each slot must not.
    ids = lambda arrays: np.where(arrays.present, np.asarray(arrays.worker_ids)[np.maximum(arrays.worker_index, 0)], -1)  # noqa: E731
    np.testing.assert_array_equal(ids(built.arrays), ids(reference))
    masks = {answer_id: mask for answer_id, _, _, mask, *_ in values}
    filled = built.annotation_ids >= 0
    np.testing.assert_array_equal(
        masks_from_choices(built.arrays.choices[filled]), [masks[i] for i in built.annotation_ids[filled]]
    )


def test_no_rows_give_empty_arrays():
    built = build_people_arrays(AnswerRows.from_values([]))
    assert built.arrays.choices.shape == (0, 0, 26)
    assert built.person_ids.size == 0 and built.arrays.n_workers == 0


def test_subset_keeps_the_rows_it_selects():
    built = build_people_arrays(AnswerRows.from_values(random_rows(3, 6, 4)))
    keep = np.arange(len(built.person_ids)) % 2 == 0
    part = built.subset(keep)
    np.testing.assert_array_equal(part.person_ids, built.person_ids[keep])
    np.testing.assert_array_equal(part.arrays.choices, built.arrays.choices[keep])
    assert part.arrays.worker_ids == built.arrays.worker_ids
