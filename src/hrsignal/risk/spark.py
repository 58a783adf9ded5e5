"""Spark SQL spelling of the policy compiler (a :class:`~hrsignal.risk.compiler.Dialect`).

This is what "another engine adds a dialect" means in practice: the scoring model stays in
:class:`~hrsignal.risk.compiler.PolicyCompiler`; only these spellings change. The dialect is
checked by golden tests of the generated SQL and run by
:class:`hrsignal.risk.spark_backend.SparkBackend` (``hrsignal risk run --engine spark``).
"""

from __future__ import annotations

from hrsignal.risk.compiler import Dialect

_TYPES = {"VARCHAR": "STRING", "INTEGER": "INT", "TIMESTAMP": "TIMESTAMP"}


class SparkDialect(Dialect):
    """Spark SQL 3.4+ (``FILTER``, ``ILIKE`` and higher-order functions are available)."""

    name = "spark"

    def ident(self, name: str) -> str:
        """Backquoted identifiers."""
        return "`" + name.replace("`", "``") + "`"

    def string(self, value: str) -> str:
        """Spark string literals escape quotes and backslashes with a backslash."""
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def days_before(self, day: str, n: int) -> str:
        """``date_sub``."""
        return f"date_sub({day}, {int(n)})"

    def days_window(self, partition: str, order: str, first: int, last: int) -> str:
        """Spark's RANGE frames need a numeric order key: days since the epoch."""
        end = "CURRENT ROW" if last == 0 else f"{last} PRECEDING"
        return (
            f"(PARTITION BY {partition} ORDER BY unix_date({order}) "
            f"RANGE BETWEEN {first} PRECEDING AND {end})"
        )

    def quantile(self, expr: str, q: float) -> str:
        """Exact percentile (interpolated, like DuckDB's quantile_cont)."""
        return f"percentile({expr}, {q!r})"

    def json_object(self, pairs: list[tuple[str, str]]) -> str:
        """A struct (serialised with to_json by the callers' casts)."""
        inner = ", ".join(f"{self.string(k)}, {v}" for k, v in pairs)
        return f"named_struct({inner})"

    def non_null_list(self, items: list[str]) -> str:
        """``filter(array(...), x -> ...)``."""
        if not items:
            return "CAST(array() AS ARRAY<STRING>)"
        return f"filter(array({', '.join(items)}), x -> x IS NOT NULL)"

    def cast(self, expr: str, type_: str) -> str:
        """Spark type names; structs become JSON text through to_json."""
        if type_ == "VARCHAR" and expr.lstrip().startswith("named_struct("):
            return self.json_list_text(expr)
        return f"CAST({expr} AS {_TYPES.get(type_, type_)})"

    def list_len(self, expr: str) -> str:
        """``size``."""
        return f"size({expr})"

    def json_list_text(self, expr: str) -> str:
        """``to_json``, keeping null fields as DuckDB's json_object does."""
        return f"to_json({expr}, map('ignoreNullFields', 'false'))"

    def empty_json_list(self) -> str:
        """An empty array."""
        return "array()"

    def like_escape(self, text: str) -> str:
        """Spark's LIKE escape is the backslash too."""
        return super().like_escape(text)
