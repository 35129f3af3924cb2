"""A statement a request runs many times a second, compiled once into its driver's SQL.

`Connection.execute` of a Core statement looks the statement up in the compiled
cache, builds its parameters, renders its literal-execute values and processes the
result on every execution: for the check-in's one INSERT that was about a third of
the request's CPU (issue 15). A DriverStatement does the compiling once per dialect
and per set of literal-execute values (arrival_days' days, which change once a day)
and runs the driver's SQL with `Connection.exec_driver_sql`, so the engine's events
(the outage breaker, the SQLite deadline and write lock), its error handling and its
pool stay exactly as they are for every other statement.

The SQL and parameters it sends are the ones `Connection.execute` sends
(tests/registration/test_database_driver_sql.py compares them on both databases).
A statement with Python-side column defaults is refused: those are filled in by
SQLAlchemy's execution, which this skips (an INSERT … FROM SELECT is built with
`include_defaults=False`, and its columns' server defaults apply).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from typing import Any, cast

from sqlalchemy import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

# Compiled forms kept per statement: one per dialect and set of literal-execute values
# (a day window a day, two around midnight); beyond this the memory starts again.
MAX_FORMS = 16


@dataclasses.dataclass(frozen=True, slots=True)
class _Form:
    """The statement as its driver runs it for one dialect and literal-execute values."""

    sql: str
    # Parameters bound anew per execution, each with its type's bind processor (or None).
    variables: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    # The statement's own values (enum members, LIMIT 1), processed once.
    constants: dict[str, Any]
    # The driver's order of parameters for a positional paramstyle (SQLite's "?").
    positions: tuple[str, ...] | None

    def parameters(self, values: Mapping[str, Any]) -> dict[str, Any] | tuple[Any, ...]:
        bound = dict(self.constants)
        for name, process in self.variables:
            value = values[name]
            bound[name] = value if process is None or value is None else process(value)
        if self.positions is None:
            return bound
        return tuple(bound[name] for name in self.positions)


class DriverStatement:
    """A Core statement run as its driver's SQL, compiled once (see the module's text)."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._forms: dict[tuple[Any, ...], _Form] = {}
        self._lock = threading.Lock()
        self._literal_names: dict[Dialect, tuple[str, ...]] = {}

    def returned_row(self, connection: Connection, values: Mapping[str, Any]) -> bool:
        """Run the statement with `values` on `connection`: whether it returned a row
        (an INSERT … RETURNING that inserted one). The row's values are the driver's,
        unprocessed, so they are not handed out."""
        form = self.form(connection.dialect, values)
        return connection.exec_driver_sql(form.sql, form.parameters(values)).first() is not None

    def returned_row_in_autocommit(self, engine: Engine, values: Mapping[str, Any]) -> bool:
        """returned_row on a pooled driver connection, in autocommit, with no SQLAlchemy
        Connection around it (Database.single_statement_returned_row says when).

        What a Connection would do around the driver is done here, by SQLAlchemy's own
        means: the pool's checkout and checkin (and their events), and for a driver
        error, the engine's handle_error listeners (the outage breaker, a read-only
        server taken as a disconnect) through Connection's handler for errors outside
        a Connection, which raises the same DBAPIError subclass execute would; a
        connection that error leaves unusable is invalidated, so the pool replaces it.
        The caller reports the answer to whoever the after_cursor_execute event would.
        """
        dialect = engine.dialect
        form = self.form(dialect, values)
        parameters = form.parameters(values)
        driver_error: type[Exception] = dialect.loaded_dbapi.Error
        try:
            pooled = engine.raw_connection()
        except driver_error as error:
            Connection._handle_dbapi_exception_noconnection(error, dialect, engine)
        try:
            driver: Any = pooled.driver_connection
            try:
                # Only this statement: the connection goes back to the pool as it came.
                driver.autocommit = True
                try:
                    with driver.cursor() as cursor:
                        cursor.execute(form.sql, parameters)
                        return cursor.fetchone() is not None
                finally:
                    if not driver.closed:
                        driver.autocommit = False
            except driver_error as error:
                disconnected = dialect.is_disconnect(cast(Any, error), driver, None)
                try:
                    Connection._handle_dbapi_exception_noconnection(
                        error, dialect, engine, is_disconnect=disconnected
                    )
                except DBAPIError as wrapped:
                    if wrapped.connection_invalidated:
                        pooled.invalidate(error)
                    raise
        finally:
            pooled.close()

    def form(self, dialect: Dialect, values: Mapping[str, Any]) -> _Form:
        """The compiled form for `dialect` and the literal-execute values in `values`."""
        names = self._literal_names.get(dialect)
        if names is not None:
            key = (dialect, *(values[name] for name in names))
            form = self._forms.get(key)
            if form is not None:
                return form
        with self._lock:
            return self._compile(dialect, values)

    def _compile(self, dialect: Dialect, values: Mapping[str, Any]) -> _Form:
        compiled: Any = self.statement.compile(dialect=dialect)
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
            raise ValueError(
                "a DriverStatement cannot fill in Python-side column defaults: name every "
                "column (or build INSERT … FROM SELECT with include_defaults=False)"
            )
        binds = compiled.binds
        literal = tuple(sorted(name for name, bind in binds.items() if bind.literal_execute))
        self._literal_names[dialect] = literal
        key = (dialect, *(values[name] for name in literal))
        given = {name: values[name] for name, bind in binds.items() if bind.required}
        expanded = compiled.construct_expanded_state(given)

        def processor(name: str) -> Callable[[Any], Any] | None:
            implementation = binds[name].type.dialect_impl(dialect)
            process: Callable[[Any], Any] | None = implementation.bind_processor(dialect)
            return process

        variables = tuple((name, processor(name)) for name in given if name not in literal)
        constants = {}
        for name, value in expanded.parameters.items():
            if name in given:
                continue
            process = processor(name)
            constants[name] = value if process is None or value is None else process(value)
        form = _Form(
            sql=expanded.statement,
            variables=variables,
            constants=constants,
            positions=tuple(expanded.positiontup) if compiled.positional else None,
        )
        if len(self._forms) >= MAX_FORMS:
            self._forms.clear()
        self._forms[key] = form
        return form
