"""The one error shape: a field and a reason, kept through copies, pickling and prefixes."""

import pickle

import pytest

from emotic.errors import FieldError


class Narrow(FieldError):
    """A subclass whose constructor takes other arguments, as ``TaskNotFound(task_id)`` does."""

    code = "narrow"

    def __init__(self, task_id: int):
        self.task_id = task_id
        super().__init__("task", f"no task {task_id}")


def test_the_message_is_field_then_reason():
    error = FieldError("valence", "must be from 1 to 10, got 11")
    assert (error.field, error.reason) == ("valence", "must be from 1 to 10, got 11")
    assert str(error) == "valence: must be from 1 to 10, got 11"
    assert error.as_dict() == {"field": "valence", "reason": "must be from 1 to 10, got 11"}
    assert isinstance(error, ValueError)


@pytest.mark.parametrize("error", [FieldError("age", "unknown"), Narrow(7)])
def test_an_error_survives_pickling_with_its_class_and_state(error):
    # Celery and multiprocessing pickle exceptions; a subclass with its own constructor must come back whole.
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (copy.field, copy.reason, str(copy)) == (error.field, error.reason, str(error))
    assert copy.__dict__ == error.__dict__


def test_within_puts_a_prefix_before_the_field_and_keeps_the_class():
    located = Narrow(3).within("people[2].")
    assert type(located) is Narrow
    assert (located.field, located.reason, located.task_id) == ("people[2].task", "no task 3", 3)
    assert str(located) == "people[2].task: no task 3"
    original = Narrow(3)
    original.within("x.")
    assert original.field == "task"
