"""Many rows written in one statement, without a model instance per row.

The worker stores a step row and two events for a transform that took 50 µs. Building a
model instance per row and letting the ORM prepare every value (`bulk_create`,
`bulk_update`) cost more than the step itself: about 37 µs per event and 70 µs per step
row on PostgreSQL. So the hot path hands plain values, column by column, to one statement:

- PostgreSQL: `INSERT … SELECT * FROM UNNEST(%s::type[], …)` and `UPDATE … FROM
  UNNEST(…) WHERE id = v.id` — one array per column, so the statement text is the same
  for any number of rows (psycopg caches it) and the server parses it once. Values are
  passed as psycopg adapts them natively; JSON columns as `Jsonb`, exactly what the ORM
  sends.
- Other databases (SQLite under `make run`): `bulk_create` and a pipelined `executemany`
  of per-row UPDATEs, with each field's own `get_db_prep_save`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, cast

from django.db import connection
from django.db.models import Field, JSONField, Model
from psycopg.types.json import Jsonb


@cache
def _fields(model: type[Model], names: tuple[str, ...]) -> list[Field[Any, Any]]:
    return [cast("Field[Any, Any]", model._meta.get_field(name)) for name in names]


def _prepared(fields: list[Field[Any, Any]], values: Sequence[Any]) -> list[Any]:
    return [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, values, strict=True)
    ]


def _columns(
    fields: list[Field[Any, Any]], rows: Sequence[Sequence[Any]], offset: int
) -> list[list[Any]]:
    """The rows' values as one list per field (PostgreSQL arrays); JSON values wrapped."""
    columns: list[list[Any]] = []
    for index, field in enumerate(fields, start=offset):
        if isinstance(field, JSONField):
            columns.append([None if row[index] is None else Jsonb(row[index]) for row in rows])
        else:
            columns.append([row[index] for row in rows])
    return columns


@cache
def _array_types(model: type[Model], names: tuple[str, ...]) -> list[str]:
    return [f"{field.db_type(connection)}[]" for field in _fields(model, names)]


def insert_rows(model: type[Model], names: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> None:
    """INSERT new rows (values in `names` order; no defaults are applied)."""
    if not rows:
        return
    fields = _fields(model, names)
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(field.column) for field in fields)
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{kind}" for kind in _array_types(model, names))
        sql = f"INSERT INTO {table} ({columns}) SELECT * FROM UNNEST({arrays})"
        with connection.cursor() as cursor:
            cursor.execute(sql, _columns(fields, rows, 0))
        return
    attnames = [field.attname for field in fields]  # run_id, not run: the rows hold keys
    model._default_manager.bulk_create(
        [model(**dict(zip(attnames, row, strict=True))) for row in rows]
    )


def update_rows(model: type[Model], names: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> None:
    """UPDATE rows by primary key: `(pk, *values in names order)`."""
    if not rows:
        return
    fields = _fields(model, names)
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    pk = model._meta.pk
    assert pk is not None
    if connection.vendor == "postgresql":
        kinds = [f"{pk.db_type(connection)}[]", *_array_types(model, names)]
        arrays = ", ".join(f"%s::{kind}" for kind in kinds)
        aliases = ", ".join(["pk", *(f"c{n}" for n in range(len(fields)))])
        assignments = ", ".join(f"{quote(f.column)} = v.c{n}" for n, f in enumerate(fields))
        sql = (
            f"UPDATE {table} SET {assignments} FROM UNNEST({arrays}) AS v({aliases}) "
            f"WHERE {table}.{quote(pk.column)} = v.pk"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [[row[0] for row in rows], *_columns(fields, rows, 1)])
        return
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    sql = f"UPDATE {table} SET {assignments} WHERE {quote(pk.column)} = %s"
    params = [
        [*_prepared(fields, row[1:]), pk.get_db_prep_value(row[0], connection)] for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def insert_new(model: type[Model], rows: Sequence[dict[str, Any]]) -> None:
    """INSERT new rows given as `{field name: value}` (a foreign key by its target's pk);
    the model's defaults fill the other fields and the database numbers the rows."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    defaults = {field.name: field.get_default() for field in fields}
    names = tuple(defaults)
    insert_rows(model, names, [[row.get(name, defaults[name]) for name in names] for row in rows])
