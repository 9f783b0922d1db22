"""The private core: what a trial's end teaches the model, one job per module, a value going one way.

``trials`` (the trial book) -> ``judge`` (the one classifier, the grade, the decision) ->
``ledger`` (placement, telling, warm start) -> the backend; ``outcomes`` is the vocabulary they
share, ``checks`` the checks of what users give, ``state`` and ``legacy`` what is saved and what
earlier releases saved, ``ray_internals`` Ray's internals. Nothing here is public: import from
:mod:`ray_graded_penalty` and its public modules. ``docs/design.md`` walks the path.
"""
