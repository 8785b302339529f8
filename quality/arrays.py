"""Answer rows from the database, as the people x slots arrays ``emotic`` computes on.

``AnnotationArrays.from_answers`` builds the same arrays one answer at a
time; at EMOTIC's size (34,320 people, ~140,000 answers) that Python loop
costs more than all the figures together, so ``build_people_arrays`` does it
with array operations. Tests check both give the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emotic.annotation_arrays import MISSING, AnnotationArrays
from emotic.taxonomy import AGES, GENDERS, NUM_CATEGORIES

GENDER_CODES = {name: code for code, name in enumerate(GENDERS)}
AGE_CODES = {name: code for code, name in enumerate(AGES)}


@dataclass(frozen=True)
class AnswerRows:
    """One entry per answer, in the order the people's slots should take (submission order)."""

    annotation_id: np.ndarray  # (N,) int
    person_id: np.ndarray  # (N,) int
    worker_id: np.ndarray  # (N,) int
    categories_mask: np.ndarray  # (N,) int, bit i: category i of emotic.taxonomy
    vad: np.ndarray  # (N, 3) float
    gender: np.ndarray  # (N,) int code into GENDERS, -1 if not given
    age: np.ndarray  # (N,) int code into AGES, -1 if not given
    split: np.ndarray  # (N,) str, the split of the person's image ("" unassigned)

    @classmethod
    def from_values(cls, values: list[tuple]) -> AnswerRows:
        """From ``(id, person, worker, mask, valence, arousal, dominance, gender, age, split)`` tuples."""
        if not values:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, empty, empty, empty, np.zeros((0, 3)), empty, empty, np.zeros(0, dtype=str))
        ids, people, workers, masks, valence, arousal, dominance, genders, ages, splits = zip(*values)
        return cls(
            annotation_id=np.array(ids, dtype=np.int64),
            person_id=np.array(people, dtype=np.int64),
            worker_id=np.array(workers, dtype=np.int64),
            categories_mask=np.array(masks, dtype=np.int64),
            vad=np.column_stack([valence, arousal, dominance]).astype(float),
            gender=np.array([GENDER_CODES.get(g, MISSING) for g in genders], dtype=np.int64),
            age=np.array([AGE_CODES.get(a, MISSING) for a in ages], dtype=np.int64),
            split=np.array(splits, dtype=str),
        )

    def __len__(self) -> int:
        return len(self.annotation_id)


@dataclass(frozen=True)
class PeopleArrays:
    """``arrays`` row p is person ``person_ids[p]``; answer i of the rows sits at (row_person[i], row_slot[i])."""

    person_ids: np.ndarray  # (P,)
    split: np.ndarray  # (P,) str
    arrays: AnnotationArrays
    annotation_ids: np.ndarray  # (P, A) annotation id in each slot, -1 where empty

    @property
    def annotators(self) -> np.ndarray:
        return self.arrays.present.sum(axis=1)

    def subset(self, people: np.ndarray) -> PeopleArrays:
        """The people selected by a boolean (P,) mask, workers indexed as before."""
        a = self.arrays
        return PeopleArrays(
            person_ids=self.person_ids[people],
            split=self.split[people],
            arrays=AnnotationArrays(
                a.choices[people], a.present[people], a.vad[people], a.worker_index[people],
                a.gender[people], a.age[people], a.worker_ids,
            ),
            annotation_ids=self.annotation_ids[people],
        )


def build_people_arrays(rows: AnswerRows) -> PeopleArrays:
    """Group answer rows by person (people in order of first row, slots in row order)."""
    n = len(rows)
    if n == 0:
        empty = np.zeros((0, 0), dtype=np.int64)
        arrays = AnnotationArrays(
            np.zeros((0, 0, NUM_CATEGORIES), dtype=bool), np.zeros((0, 0), dtype=bool), np.zeros((0, 0, 3)),
            empty, empty, empty, (),
        )
        return PeopleArrays(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=str), arrays, empty)
    first_seen, person_of_row = np.unique(rows.person_id, return_inverse=True)
    # Order people by where they first appear, then rows by (person, original order).
    first_row = np.full(len(first_seen), n, dtype=np.int64)
    np.minimum.at(first_row, person_of_row, np.arange(n))
    person_rank = np.empty(len(first_seen), dtype=np.int64)
    person_rank[np.argsort(first_row, kind="stable")] = np.arange(len(first_seen))
    row_person = person_rank[person_of_row]
    order = np.lexsort((np.arange(n), row_person))
    counts = np.bincount(row_person, minlength=len(first_seen))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    row_slot = np.empty(n, dtype=np.int64)
    row_slot[order] = np.arange(n) - np.repeat(starts, counts)
    n_people, n_slots = len(first_seen), int(counts.max())

    worker_ids, worker_of_row = np.unique(rows.worker_id, return_inverse=True)
    shape = (n_people, n_slots)
    choices = np.zeros(shape + (NUM_CATEGORIES,), dtype=bool)
    choices[row_person, row_slot] = (rows.categories_mask[:, None] >> np.arange(NUM_CATEGORIES)) & 1 == 1
    vad = np.full(shape + (3,), np.nan)
    vad[row_person, row_slot] = rows.vad
    worker_index, gender, age, annotation_ids = (np.full(shape, MISSING, dtype=np.int64) for _ in range(4))
    worker_index[row_person, row_slot] = worker_of_row
    gender[row_person, row_slot] = rows.gender
    age[row_person, row_slot] = rows.age
    annotation_ids[row_person, row_slot] = rows.annotation_id
    person_ids = np.empty(n_people, dtype=np.int64)
    person_ids[row_person] = rows.person_id
    split = np.empty(n_people, dtype=rows.split.dtype)
    split[row_person] = rows.split
    arrays = AnnotationArrays(
        choices, worker_index >= 0, vad, worker_index, gender, age, tuple(int(w) for w in worker_ids)
    )
    return PeopleArrays(person_ids, split, arrays, annotation_ids)


def masks_from_choices(categories: np.ndarray) -> np.ndarray:
    """(P, C) booleans -> (P,) category masks as stored on the models."""
    return (np.asarray(categories, dtype=np.int64) << np.arange(NUM_CATEGORIES)).sum(axis=1)
