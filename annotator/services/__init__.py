"""Operations that change annotation data. Import from the submodules:

- ``assignment``: ``next_task(worker, ahead=...)`` (a task and the one ahead, or why none and when to ask
  again), ``assign_next_task(worker)``, ``extend_task(worker, task_id)``, ``expire_stale_assignments()``,
  ``recount_slots()``
- ``submission``: ``submit_task(...)`` (late answers kept while the person is still free), ``skip_task(...)``,
  ``report_task(...)``
- ``qualification``: the qualification test, its attempts, retries and an admin's ``reset_qualification``
- ``boxes``: ``settle_image_boxes(image)`` (end of stage 1; the geometry is in ``emotic.boxes``)
- ``gold``: checking answers against gold items
- ``intake``: ``receive_image(...)``, ``receive_original_answers(...)``: images and imported people come in
- ``standing``: a worker's block carried into their work (excluded, restored), as quality decides
- ``review``: an answer's review status, as quality decides
- ``workers``: worker records, API tokens and the API access an admin grants (``set_api_access``)

Resized images (renditions) and an image's split are the catalog's (``catalog.renditions``, ``catalog.splits``).
"""
