"""Table shells load from schemas/tables/ and bad shells name file and key."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest

from sse_stats.accounts import load_shells
from sse_stats.accounts.shells import LinearDerivation, RatioDerivation, TableShell
from sse_stats.errors import SchemaFileError

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


def test_load_shells__ten_tables__named_after_their_files(
    shells: Mapping[str, TableShell],
) -> None:
    """One shell per table of schema.md §9.2; name = file = asset key."""
    assert list(shells) == sorted(p.stem for p in (SCHEMAS / "tables").glob("t*.yaml"))
    assert len(shells) == 10


def test_load_shells__t1__rows_columns_and_derivations_are_data(
    shells: Mapping[str, TableShell],
) -> None:
    """T1 keeps the nine entity rows, fixes activity and sector, derives the share."""
    t1 = shells["t01_key_aggregates_by_entity"]
    assert t1.dimensions["sse_entity"] == frozenset(
        {"COOP", "MUTUAL", "ASSOC", "FOUND", "SOCENT", "SHG", "OTHER", "_T", "NATECON"}
    )
    assert t1.fixed == {"activity": "_T", "inst_sector": "_T"}
    share = t1.derivation("sse_share_of_national")
    assert isinstance(share, RatioDerivation) and share.scale == 100
    assert share.check_submitted == "published_share_matches_levels"
    assert isinstance(t1.derivation("group_from_subgroups"), LinearDerivation)
    assert t1.presentation_mult("B1G", "currency") == 6


@pytest.fixture
def schemas_copy(tmp_path: Path) -> Path:
    """A writable copy of schemas/ (small: YAML and CSV)."""
    target = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, target)
    return target


def test_load_shells__misspelt_key__names_file_key_and_hint(schemas_copy: Path) -> None:
    """`presentaton` is refused with the file, the key and the closest key."""
    path = schemas_copy / "tables" / "t06_work.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("presentation:", "presentaton:"),
        encoding="utf-8",
    )
    with pytest.raises(
        SchemaFileError,
        match=r"t06_work\.yaml: presentaton: unknown key 'presentaton' "
        r"\(did you mean 'presentation'\?\)",
    ):
        load_shells(schemas_copy)


def test_load_shells__unknown_code__names_codelist(schemas_copy: Path) -> None:
    """A row code that is not in its code list is refused."""
    path = schemas_copy / "tables" / "t05_entity_by_sector.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("S14, S15", "S14, S16"),
        encoding="utf-8",
    )
    with pytest.raises(
        SchemaFileError,
        match=r"codes \['S16'\] are not in "
        r"codelists/inst_sector\.csv",
    ):
        load_shells(schemas_copy)


def test_load_shells__name_not_file_name__refused(schemas_copy: Path) -> None:
    """One name per thing: the table name must be the file name."""
    path = schemas_copy / "tables" / "t08_volunteer_work.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "name: t08_volunteer_work", "name: t08_volunteers"
        ),
        encoding="utf-8",
    )
    with pytest.raises(SchemaFileError, match=r"t08_volunteer_work\.yaml: name"):
        load_shells(schemas_copy)
