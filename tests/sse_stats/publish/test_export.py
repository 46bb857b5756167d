"""ICLS background tables: every workbook, CSV and SDMX file, read back.

The curated store is built from the six good NSO fixtures (harmonised as
``check_submission`` does, then ``publish_satellite``), with three changes:

* every KOR observation carries the footnote ``=HYPERLINK(…)`` (a whole
  block's note, so it is written as a cell of its own);
* France's cooperatives' FTE carry ``+cmd|…`` (a numbered footnote);
* France's foundations count 2 units (``N_UNITS``), below sdc.yaml's 3, so
  their magnitude cells must be primary-suppressed (``CONF_STATUS = A``) and
  secondary suppression must follow. (Their unit counts by activity other than
  A, which the NSO already gives as 2, are dropped so the counts still add up.)
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml
from pysdmx.io import read_sdmx

from sse_stats.accounts import load_shells
from sse_stats.accounts.build import (
    _NOTE_CONFIDENTIAL_INPUT,
    _NOTE_MIXED,
    _PERIMETER_NOTE,
)
from sse_stats.accounts.sdc import NOTE_SECONDARY
from sse_stats.cli import main
from sse_stats.harmonise.mapping import load_mapping
from sse_stats.harmonise.submission import harmonise_file
from sse_stats.publish.export import ExportResult, export_background_tables
from sse_stats.publish.export.safe import FORMULA_PREFIXES, neutralise, number_text
from sse_stats.publish.export.texts import LANGUAGES, load_texts
from sse_stats.publish.satellite import publish_satellite
from sse_stats.publish.store import read_table, write_table_parquet
from sse_stats.schema.key import DIMENSIONS
from sse_stats.schema.load import load_schema
from sse_stats.validate.catalogue import load_rules

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = ROOT / "schemas"
GOOD = ROOT / "tests" / "fixtures" / "nso" / "good"
HOSTILE_BLOCK = '=HYPERLINK("http://evil.example/x","click me")'
HOSTILE_CELL = "+cmd|' /C calc'!A0"
T1 = "t01_key_aggregates_by_entity"
TITLES = {
    "en": "Key aggregates by entity group",
    "fr": "Principaux agrégats par groupe d'entités",
    "es": "Principales agregados por grupo de entidades",
}
COOPS = {"en": "Cooperatives", "fr": "Coopératives", "es": "Cooperativas"}
GVA = {
    "en": "Gross value added",
    "fr": "Valeur ajoutée brute",
    "es": "Valor agregado bruto",
}
SPAIN = {"en": "Spain", "fr": "Espagne", "es": "España"}
MILLIONS = {"en": "EUR (millions)", "fr": "EUR (millions)", "es": "EUR (millones)"}
PROVISIONAL = {
    "en": "P: Provisional value",
    "fr": "P : Valeur provisoire",
    "es": "P: Valor provisional",
}
COVERAGE_NOTE = {
    "en": "Coverage: Active units only",
    "fr": "Champ : Unités actives uniquement",
    "es": "Cobertura: Solo unidades activas",
}


def _harmonise(path: Path) -> pd.DataFrame:
    mapping = None
    if not path.name.startswith("template"):
        mapping = load_mapping(SCHEMAS / "mappings" / f"{path.name[:3]}.yaml")
    result = harmonise_file(
        path, mapping, schema=load_schema(SCHEMAS), cat=load_rules(SCHEMAS / "rules")
    )
    assert result.harmonised is not None, [f.message for f in result.findings]
    return result.harmonised.frame


def _observations() -> pd.DataFrame:
    frame = pd.concat(
        [_harmonise(p) for p in sorted(GOOD.glob("*.csv"))], ignore_index=True
    )
    frame["comment_obs"] = frame["comment_obs"].astype("object")
    frame.loc[frame["ref_area"] == "KOR", "comment_obs"] = HOSTILE_BLOCK
    fra = frame["ref_area"] == "FRA"
    coop_fte = fra & (frame["sse_entity"] == "COOP") & (frame["measure"] == "EMP_FTE")
    frame.loc[coop_fte, "comment_obs"] = HOSTILE_CELL
    found = fra & (frame["sse_entity"] == "FOUND") & (frame["measure"] == "N_UNITS")
    whole = found & (frame["activity"] == "_T") & (frame["region"] == "_T")
    assert whole.sum() == 1
    frame.loc[whole, "obs_value"] = 2.0
    frame.loc[whole, "obs_value_text"] = "2"
    frame = frame[~(found & ~frame["activity"].isin(["_T", "A"]))]
    return frame.astype({"comment_obs": "str"}).reset_index(drop=True)


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A curated store with the fixtures' satellite tables published."""
    root = tmp_path_factory.mktemp("curated")
    write_table_parquet(root, "harmonised", "observations", _observations())
    publish_satellite(root, SCHEMAS)
    return root


@pytest.fixture(scope="module")
def exported(curated: Path) -> ExportResult:
    """The exports of every table in the three languages."""
    return export_background_tables(curated, SCHEMAS)


def _workbook(result: ExportResult, table: str, lang: str) -> openpyxl.Workbook:
    return openpyxl.load_workbook(result.root / "xlsx" / f"{table}.{lang}.xlsx")


def _texts_of(sheet: object) -> list[str]:
    return [
        c.value
        for row in sheet.iter_rows()  # type: ignore[attr-defined]
        for c in row
        if isinstance(c.value, str)
    ]


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def _all_csv(result: ExportResult) -> Iterator[Path]:
    return (p for p in result.files if p.suffix == ".csv")


# --------------------------------------------------------------- files


def test_export__every_table_language_and_format__is_written(
    exported: ExportResult,
) -> None:
    """10 tables × 3 languages of XLSX, CSV per country, SDMX-CSV, ILOSTAT T6/T8."""
    names = {p.relative_to(exported.root).as_posix() for p in exported.files}
    shells = sorted(load_shells(SCHEMAS))
    assert len(shells) == 10
    for table in shells:
        for lang in LANGUAGES:
            assert f"xlsx/{table}.{lang}.xlsx" in names
    for lang in LANGUAGES:
        assert f"csv/{T1}/ESP.{lang}.csv" in names
        assert f"ilostat/t06_work.{lang}.csv" in names
        assert f"ilostat/t08_volunteer_work.{lang}.csv" in names
    assert "sdmx/observations.csv" in names
    assert all(p.is_file() for p in exported.files)
    assert not any(p.name.startswith(".staging") for p in exported.root.iterdir())


# ------------------------------------------------------------ workbooks


@pytest.mark.parametrize("lang", LANGUAGES)
def test_workbook__t01__titles_labels_units_in_each_language(
    exported: ExportResult, lang: str
) -> None:
    """Titles, row and column labels, units and notes come from schemas/ by language."""
    book = _workbook(exported, T1, lang)
    assert book.sheetnames[0] == load_texts(SCHEMAS).phrase("contents_sheet", lang)
    assert book.sheetnames[1:] == ["ESP", "FRA", "KOR", "MEX", "PRT"]
    contents = _texts_of(book.worksheets[0])
    assert any(TITLES[lang] in t for t in contents)
    sheet = book["ESP"]
    assert sheet["A1"].value.startswith(("Table 1.", "Tableau 1.", "Cuadro 1."))
    assert TITLES[lang] in sheet["A1"].value and SPAIN[lang] in sheet["A1"].value
    texts = _texts_of(sheet)
    assert COOPS[lang] in texts
    assert GVA[lang] in texts
    assert MILLIONS[lang] in texts
    assert COVERAGE_NOTE[lang] in texts
    assert any("ESP_CSCMM_SYNTH" in t and "2011-06-30" in t for t in texts)
    others = {x for other, v in GVA.items() if other != lang for x in (v,)}
    assert not others & set(texts)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_workbook__provisional_values__carry_flag_p_and_legend(
    exported: ExportResult, lang: str
) -> None:
    """PRT 2020 provisional values have P in the flag column beside the number."""
    sheet = _workbook(exported, T1, lang)["PRT"]
    flagged = [
        (row[i].value, row[i + 1].value)
        for row in sheet.iter_rows()
        for i in range(len(row) - 1)
        if isinstance(row[i].value, float | int) and row[i + 1].value == "P"
    ]
    assert flagged
    assert PROVISIONAL[lang] in _texts_of(sheet)


def _cells_with_symbol(sheet: object, symbol: str) -> list[tuple[object, object]]:
    return [
        (row[i].value, row[i + 1].value)
        for row in sheet.iter_rows()  # type: ignore[attr-defined]
        for i in range(len(row) - 1)
        if row[i].value == symbol
    ]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_workbook__suppressed_cells__show_x_with_conf_status_and_no_number(
    exported: ExportResult, curated: Path, lang: str
) -> None:
    """FRA: every suppressed cell is x with its CONF_STATUS; no hidden value leaks."""
    protected = exported.tables[T1]
    fra = protected[protected["ref_area"] == "FRA"]
    hidden = fra[fra["conf_status"].astype("str") != "F"]
    assert {"A", "S"} <= set(hidden["conf_status"].astype("str"))
    sheet = _workbook(exported, T1, lang)["FRA"]
    marks = _cells_with_symbol(sheet, "x")
    assert len(marks) == len(hidden)
    assert sorted(str(f).split()[0] for _, f in marks) == sorted(
        hidden["conf_status"].astype("str")
    )
    original = read_table(curated, "satellite", T1)
    keys = ["sse_entity", "sse_entity_nat", "measure", "work_cat", "base_measure"]
    before = original[original["ref_area"] == "FRA"].merge(
        hidden[keys], on=keys, how="inner"
    )
    leaked = set(before["obs_value_published"].dropna().round(6))
    shown = {
        round(float(c.value), 6)
        for row in sheet.iter_rows()
        for c in row
        if isinstance(c.value, float | int)
    }
    assert leaked and not leaked & shown
    legend = _texts_of(sheet)
    conf = load_texts(SCHEMAS).codelists["conf_status"]
    assert any(conf.label("A", lang) in t for t in legend)
    assert any(conf.label("S", lang) in t for t in legend)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_workbook__footnotes__numbered_and_common_notes(
    exported: ExportResult, lang: str
) -> None:
    """A note on some cells is numbered with a marker; one on every cell is not."""
    sheet = _workbook(exported, T1, lang)["FRA"]
    texts = _texts_of(sheet)
    assert f"(1) {HOSTILE_CELL}" in texts
    assert any(re.fullmatch(r"(.+ )?\(1\)", str(t)) for t in texts)  # a flag marker
    kor = _texts_of(_workbook(exported, T1, lang)["KOR"])
    assert HOSTILE_BLOCK in kor


@pytest.mark.parametrize("table", sorted(load_shells(SCHEMAS)))
def test_workbook__every_table_and_language__opens_with_titles(
    exported: ExportResult, table: str
) -> None:
    """Each workbook opens; each country sheet starts with its translated title."""
    texts = load_texts(SCHEMAS)
    for lang in LANGUAGES:
        book = _workbook(exported, table, lang)
        title = texts.tables[table].title[lang]
        assert any(title in t for t in _texts_of(book.worksheets[0]))
        for sheet in book.worksheets[1:]:
            assert title in sheet["A1"].value


def test_workbook__hostile_text__is_a_string_never_a_formula(
    exported: ExportResult,
) -> None:
    """No cell of any workbook is a formula; the hostile footnotes are plain text."""
    seen = set()
    for path in exported.files:
        if path.suffix != ".xlsx":
            continue
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.startswith("xl/worksheets/"):
                    assert "<f>" not in archive.read(name).decode("utf-8"), name
        for sheet in openpyxl.load_workbook(path).worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (path.name, cell.coordinate)
                    if cell.value in (HOSTILE_BLOCK, f"(1) {HOSTILE_CELL}"):
                        seen.add(cell.value)
    assert seen == {HOSTILE_BLOCK, f"(1) {HOSTILE_CELL}"}


# ------------------------------------------------------------------ CSV


def test_csv__every_text_field__cannot_start_a_formula(exported: ExportResult) -> None:
    """A field starting with = + - @ tab CR is a number; the hostile text is quoted."""
    hostile = 0
    for path in _all_csv(exported):
        for row in _csv_rows(path):
            for field in row:
                if field.startswith(FORMULA_PREFIXES):
                    float(field)  # only a negative number may start with -
                if "HYPERLINK" in field or "cmd|" in field:
                    hostile += 1
                    assert not field.startswith(FORMULA_PREFIXES)
    assert hostile


def test_csv__t01__shell_layout_with_flags_and_notes(exported: ExportResult) -> None:
    """Rows × columns of the shell, a flag column beside each value, a notes column."""
    rows = _csv_rows(exported.root / "csv" / T1 / "FRA.fr.csv")
    header, body = rows[0], rows[1:]
    assert header[:3] == ["TIME_PERIOD", "SSE_ENTITY", "SSE_ENTITY_NAT"]
    assert header[3:5] == ["Groupe d'entités", "Sous-groupe national"]
    assert header[-1] == "Notes"
    paid = "Emploi en équivalent temps plein / Salariés (emploi rémunéré)"
    at = header.index(f"{paid} (Équivalents temps plein)")
    assert header[at + 1] == f"{paid} (Équivalents temps plein) (indicateur)"
    found = next(r for r in body if r[1] == "FOUND")
    assert found[3] == "Fondations"
    marks = [i for i, v in enumerate(found) if v == "x"]
    assert marks and all(found[i + 1].split()[0] in {"A", "S"} for i in marks)
    coop = next(r for r in body if r[1] == "COOP")
    assert f"'(1) {HOSTILE_CELL}" not in coop[-1] and f"(1) {HOSTILE_CELL}" in coop[-1]


def test_csv__hostile_block_note__is_prefixed_with_an_apostrophe(
    exported: ExportResult,
) -> None:
    """KOR's notes column starts with the hostile text, so it is neutralised."""
    rows = _csv_rows(exported.root / "csv" / T1 / "KOR.en.csv")
    assert all(r[-1].startswith("'=HYPERLINK") for r in rows[1:])


def test_ilostat__t06__bulk_layout_with_sex_codes(exported: ExportResult) -> None:
    """T6 in the ILOSTAT bulk layout: sex as SEX_*, classifications, notes."""
    rows = _csv_rows(exported.root / "ilostat" / "t06_work.en.csv")
    assert rows[0] == [
        "ref_area",
        "source",
        "indicator",
        "sex",
        "classif1",
        "classif2",
        "time",
        "obs_value",
        "obs_status",
        "note_classif",
        "note_indicator",
        "note_source",
    ]
    body = rows[1:]
    assert body and {r[3] for r in body} <= {"SEX_F", "SEX_M", "SEX_O", "SEX_T"}
    assert {r[4] for r in body} >= {"SSE_ENT_COOP", "SSE_ENT_TOTAL"}
    assert all(r[2].startswith("SSE_") for r in body)
    fra_coop = [r for r in body if r[0] == "FRA" and r[4] == "SSE_ENT_COOP"]
    assert any(HOSTILE_CELL in r[10] for r in fra_coop)
    assert not any(r[10].startswith(FORMULA_PREFIXES) for r in body)


# ----------------------------------------------------------------- SDMX


def test_sdmx_csv__reads_back_with_pysdmx(exported: ExportResult) -> None:
    """The SDMX-CSV 2.0 file is one dataset of SSE:SSE_STATS(1.0), every row read."""
    path = exported.root / "sdmx" / "observations.csv"
    header = path.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("STRUCTURE,STRUCTURE_ID,ACTION,REF_AREA,")
    message = read_sdmx(path)
    (dataset,) = message.data
    assert dataset.short_urn == "Dataflow=SSE:SSE_STATS(1.0)"
    assert len(dataset.data) == len(exported.observations)
    comments = dataset.data["COMMENT_OBS"].astype("str")
    assert (comments == neutralise(HOSTILE_BLOCK)).sum() == (
        dataset.data["REF_AREA"] == "KOR"
    ).sum()


def test_sdmx_csv__suppressed_cells__empty_with_conf_status(
    exported: ExportResult,
) -> None:
    """Primary (A) and secondary (S) suppression reach the observations too."""
    rows = _csv_rows(exported.root / "sdmx" / "observations.csv")
    header = rows[0]
    at = {
        name: header.index(name) for name in ("OBS_VALUE", "CONF_STATUS", "OBS_STATUS")
    }
    hidden = [r for r in rows[1:] if r[at["CONF_STATUS"]] not in ("F", "")]
    assert {r[at["CONF_STATUS"]] for r in hidden} >= {"A", "C"}
    assert all(r[at["OBS_VALUE"]] == "" and r[at["OBS_STATUS"]] == "Q" for r in hidden)


def test_sdmx_csv__passes_the_nso_self_check(exported: ExportResult) -> None:
    """sse-stats check reads the export as a canonical template without errors."""
    assert main(["check", str(exported.root / "sdmx" / "observations.csv")]) == 0


# ----------------------------------------------------------- disclosure


def _relations() -> list[tuple[str, str, list[str], dict[str, dict[str, str]]]]:
    doc = yaml.safe_load((SCHEMAS / "harmonised" / "hierarchies.yaml").read_text())
    out = []
    for entry in doc["hierarchies"]:
        for rel in entry["relations"]:
            if "children" in rel:
                out.append(
                    (
                        entry["dimension"],
                        rel["parent"],
                        list(rel["children"]),
                        entry.get("key_equivalents") or {},
                    )
                )
    return out


def _published_cells(
    result: ExportResult, *, without_secondary: bool = False
) -> dict[tuple[str, ...], bool]:
    """Every exported level cell by key → suppressed? (tables and SDMX together).

    With ``without_secondary``, cells suppressed only by secondary suppression
    (S) count as published: what a reader would see with primary rules alone.
    """
    dims = [*DIMENSIONS, "measure", "unit_state"]
    frames = [result.observations, *result.tables.values()]
    cells: dict[tuple[str, ...], bool] = {}
    for frame in frames:
        if frame.empty:
            continue
        frame = frame[frame.reindex(columns=["base_measure"])["base_measure"].isna()]
        keys = frame.reindex(columns=dims).astype("str").fillna("")
        conf = frame["conf_status"].astype("str")
        hidden = conf.ne("F") & frame["obs_value"].isna()
        empty = frame["obs_value"].isna() & ~hidden
        if without_secondary:
            hidden = hidden & conf.ne("S")
            empty = empty & conf.ne("S")
        for key, h, e in zip(
            keys.itertuples(index=False, name=None), hidden, empty, strict=True
        ):
            if e:
                continue
            cells[key] = cells.get(key, False) or bool(h)
    return cells


def _equations(
    cells: dict[tuple[str, ...], bool],
) -> list[list[tuple[tuple[str, ...], int]]]:
    """Additive relations among exported cells (hierarchies, identities).

    Hierarchies: parent = sum of the children present (absent read as zero);
    identities: only when every term is exported.
    """
    doc = yaml.safe_load((SCHEMAS / "harmonised" / "hierarchies.yaml").read_text())
    additive = set(doc["measures"]["additive"])
    distinct = set(doc["measures"]["distinct_count"])
    across = set(doc["distinct_count_equal_across"])
    dims = [*DIMENSIONS, "measure", "unit_state"]
    at = {d: i for i, d in enumerate(dims)}
    equations = []
    for dim, parent, children, equivalents in _relations():
        groups: dict[tuple[str, ...], dict[str, tuple[str, ...]]] = {}
        for key in cells:
            measure = key[at["measure"]]
            if not (measure in additive or (measure in distinct and dim in across)):
                continue
            # The SSE total has SSE_ENTITY_NAT _Z where a group has _T (§4.12).
            norm = tuple(
                equivalents.get(column, {}).get(code, code)
                for column, code in zip(dims, key, strict=True)
                if column != dim
            )
            groups.setdefault(norm, {})[key[at[dim]]] = key
        for members in groups.values():
            if parent not in members:
                continue
            # A reader may take an absent category as zero (no SHG in France),
            # so the relation over the cells present is one a reader can use.
            terms = [members[c] for c in children if c in members]
            if terms:
                equations.append([(members[parent], 1), *[(t, -1) for t in terms]])
    identities = yaml.safe_load(
        (SCHEMAS / "harmonised" / "identities.yaml").read_text()
    )
    for identity in identities["identities"]:
        for key in cells:
            if key[at["measure"]] != identity["lhs"]:
                continue
            terms = []
            for measure, coefficient in identity["rhs"].items():
                other = list(key)
                other[at["measure"]] = measure
                terms.append((tuple(other), -int(coefficient)))
            if all(t in cells for t, _ in terms):
                equations.append([(key, 1), *terms])
    return equations


def test_disclosure__every_relation__hides_zero_or_at_least_two_cells(
    exported: ExportResult,
) -> None:
    """No complete published relation has exactly one suppressed cell."""
    cells = _published_cells(exported)
    equations = _equations(cells)
    assert equations
    exposed = [
        [k for k, _ in eq] for eq in equations if sum(cells[k] for k, _ in eq) == 1
    ]
    assert exposed == []
    assert exported.protection.primary.get("A", 0) > 0
    assert exported.protection.secondary > 0


def test_disclosure__checker__finds_exposure_without_secondary_suppression(
    exported: ExportResult,
) -> None:
    """The checker is not vacuous: primary suppression alone leaves cells exposed."""
    cells = _published_cells(exported, without_secondary=True)
    exposed = [eq for eq in _equations(cells) if sum(cells[k] for k, _ in eq) == 1]
    assert exposed


def test_export__frequency_threshold__is_read_from_sdc_yaml(
    curated: Path, tmp_path: Path
) -> None:
    """Raising min_units in sdc.yaml suppresses more; nothing is hard-coded."""
    import shutil

    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, schemas)
    sdc = schemas / "harmonised" / "sdc.yaml"
    sdc.write_text(
        sdc.read_text(encoding="utf-8").replace("min_units: 3", "min_units: 1000"),
        encoding="utf-8",
    )
    root = tmp_path / "curated"
    shutil.copytree(curated, root)
    result = export_background_tables(root, schemas, languages=["en"])
    assert result.protection.primary["A"] > 10
    kept = result.observations
    small = kept[(kept["measure"] == "N_UNITS") & (kept["obs_value"] < 1000)]
    assert len(small)  # counts themselves are never suppressed


def test_disclosure__no_suppressed_cell__is_determined_by_the_relations(
    exported: ExportResult,
) -> None:
    """Solve the published linear system: no suppressed cell has a unique value.

    A suppressed cell x_j is determined when the unit vector e_j lies in the
    row space of the relations restricted to the suppressed cells, i.e. when
    adding e_j as a row does not raise the rank.
    """
    cells = _published_cells(exported)
    equations = _equations(cells)
    unknown = sorted(k for k, hidden in cells.items() if hidden)
    assert unknown
    column = {k: i for i, k in enumerate(unknown)}
    rows = []
    for eq in equations:
        row = np.zeros(len(unknown))
        for key, coefficient in eq:
            if key in column:
                row[column[key]] += coefficient
        if row.any():
            rows.append(row)
    matrix = np.array(rows) if rows else np.zeros((0, len(unknown)))
    rank = np.linalg.matrix_rank(matrix) if len(rows) else 0
    determined = []
    for key, j in column.items():
        unit = np.zeros(len(unknown))
        unit[j] = 1
        if len(rows) and np.linalg.matrix_rank(np.vstack([matrix, unit])) == rank:
            determined.append(key)
    assert determined == []


def test_disclosure__nso_confidential_cells__stay_suppressed(
    exported: ExportResult, curated: Path
) -> None:
    """A cell the NSO sent confidential (C) is still empty and C everywhere."""
    observations = read_table(curated, "harmonised", "observations")
    nso = observations[observations["conf_status"] == "C"]
    assert len(nso)
    out = exported.observations
    merged = out.merge(
        nso[
            [
                "ref_area",
                "time_period",
                "sse_entity",
                "sse_entity_nat",
                "measure",
                "activity",
                "inst_sector",
                "region",
            ]
        ],
        how="inner",
    )
    assert len(merged)
    assert (merged["conf_status"] == "C").all() and merged["obs_value"].isna().all()


# ------------------------------------------------------------ texts, CLI


def test_texts__every_shell_and_satellite_measure__has_three_languages() -> None:
    """schemas/exports names every table shell and every satellite-only measure."""
    texts = load_texts(SCHEMAS)
    shells = load_shells(SCHEMAS)
    assert set(texts.tables) == set(shells)
    common = next(iter(shells.values())).context.satellite_measures
    assert set(common) <= set(texts.satellite_measures)
    assert sorted(t.number for t in texts.tables.values()) == list(range(1, 11))


def test_texts__satellite_note_patterns__match_the_accounts_constants() -> None:
    """The English notes the export re-words are those the satellite build writes."""
    texts = load_texts(SCHEMAS)
    assert texts.satellite_notes["perimeter"] == _PERIMETER_NOTE
    assert texts.satellite_notes["mixed_coverage"] == _NOTE_MIXED
    assert NOTE_SECONDARY in texts.dropped_notes
    assert _NOTE_CONFIDENTIAL_INPUT in texts.dropped_notes


def test_load_texts__missing_language__names_file_and_key(tmp_path: Path) -> None:
    """A title without its Spanish version is refused with the key path."""
    schemas = tmp_path / "schemas"
    import shutil

    shutil.copytree(SCHEMAS, schemas)
    path = schemas / "exports" / "icls_background_tables.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "      es: Principales agregados por grupo de entidades\n", ""
    )
    path.write_text(text, encoding="utf-8")
    from sse_stats.errors import SchemaFileError

    with pytest.raises(
        SchemaFileError,
        match=r"icls_background_tables\.yaml: tables\.t01_key_aggregates_by_entity"
        r"\.title\.es: text is required",
    ):
        load_texts(schemas)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-x", "'-x"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Coverage", "Coverage"),
    ],
)
def test_neutralise__formula_starts__get_an_apostrophe(
    value: str, expected: str
) -> None:
    """The OWASP prefix, only where a spreadsheet would start a formula."""
    assert neutralise(value) == expected


def test_number_text__negative_numbers__stay_numbers() -> None:
    """Numbers are written as plain decimals, never neutralised."""
    assert number_text(-3.5) == "-3.5"
    assert number_text(1e20) == "100000000000000000000"


def test_cli_export__one_language__writes_only_under_exports(
    curated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sse-stats export --lang fr` writes French files (and SDMX) under exports/."""
    import shutil

    root = tmp_path / "curated"
    shutil.copytree(curated, root)
    shutil.rmtree(root / "exports", ignore_errors=True)
    before = {p for p in root.rglob("*") if p.is_file()}
    assert main(["export", "--lang", "fr", "--curated", str(root)]) == 0
    after = {p for p in root.rglob("*") if p.is_file()}
    new = after - before
    assert new and all(p.is_relative_to(root / "exports") for p in new)
    assert {p for p in before if p.is_relative_to(root / "parquet")} <= after
    names = {p.name for p in new}
    assert "t01_key_aggregates_by_entity.fr.xlsx" in names
    assert not any(".en." in n or ".es." in n for n in names)
    assert "exports" in capsys.readouterr().out


def test_cli_export__unknown_language__is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Exit 2 for a language other than en, fr, es."""
    assert main(["export", "--lang", "de"]) == 2
    assert "--lang" in capsys.readouterr().err


def test_export__empty_store__writes_empty_workbooks(tmp_path: Path) -> None:
    """With nothing published, each workbook has only its contents sheet."""
    result = export_background_tables(tmp_path, SCHEMAS, languages=["es"])
    book = openpyxl.load_workbook(result.root / "xlsx" / f"{T1}.es.xlsx")
    assert book.sheetnames == ["Índice"]
    assert io.StringIO(
        (result.root / "sdmx" / "observations.csv").read_text()
    ).readline()


def test_workbook__group_with_subgroups__whole_group_column_named(
    exported: ExportResult,
) -> None:
    """PRT T3: under the spanning "Associations", the whole group's column is
    "Total" beside its subgroups; a group without subgroups keeps one blank."""
    sheet = _workbook(exported, "t03_production_account", "en")["PRT"]
    rows = [[c.value for c in row] for row in sheet.iter_rows(max_row=8)]
    top = next(i for i, r in enumerate(rows) if "Associations" in r)
    under = rows[top + 1]
    first = rows[top].index("Associations")
    assert under[first] == "Total"
    assert "Misericórdias" in under
    assert under[rows[top].index("Cooperatives")] is None


@pytest.mark.parametrize(
    ("lang", "name"),
    [("en", "Republic of Korea"), ("fr", "République de Corée"),
     ("es", "República de Corea")],
)  # fmt: skip
def test_country_names__un_short_names_not_iso_inversions(lang: str, name: str) -> None:
    """schemas/exports/country_names.csv: "Corée, République de" (ISO 3166 order)
    would read badly in a title; every other country keeps pycountry's name."""
    texts = load_texts(SCHEMAS)
    assert texts.label("ref_area", "KOR", lang) == name
    assert texts.label("ref_area", "ESP", "fr") == "Espagne"
    for code in ("PRT", "ESP", "FRA", "KOR", "MEX", "KEN"):
        assert ", " not in texts.label("ref_area", code, lang)
