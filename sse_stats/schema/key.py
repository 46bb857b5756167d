"""The observation key as harmonised-frame columns (schema.md §2, §11.1).

The thirteen dimensions are fixed by the contract; a test keeps this tuple equal
to the dimensions of ``schemas/harmonised/concepts.yaml``. Modules that group
observations by key import it from here instead of spelling it again.
"""

DIMENSIONS: tuple[str, ...] = (
    "ref_area",
    "region",
    "time_period",
    "freq",
    "sse_entity",
    "sse_entity_nat",
    "coop_type",
    "coop_level",
    "activity",
    "inst_sector",
    "sex",
    "work_cat",
    "member_type",
)
"""The thirteen dimensions, in template order."""
