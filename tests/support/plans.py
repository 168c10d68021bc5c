"""How the database would run a query: its plan, read with EXPLAIN, to check that a list's page is read from the index made for it."""

from __future__ import annotations


def plan_of(query, *, in_order: bool = False) -> str:
    """The plan of a Peewee query as text, on the suite's database. On
    PostgreSQL sequential scans are discouraged first: the tables of a test
    run are small, and a full scan of a small table is what the planner
    would rightly choose there. With `in_order`, gathering rows to sort
    them is discouraged too: the question then is whether an index can serve
    the query in its order, not what the planner prefers on today's
    statistics (with a few rows per key, a bitmap scan and a sort)."""
    from models.connection import database, is_sqlite
    from models.retry import retried_transaction

    sql, params = query.sql()

    def explain() -> str:
        if is_sqlite():
            rows = database.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            return "\n".join(str(row[-1]) for row in rows)
        database.execute_sql("SET LOCAL enable_seqscan = off")
        if in_order:
            database.execute_sql("SET LOCAL enable_bitmapscan = off")
            database.execute_sql("SET LOCAL enable_sort = off")
        return "\n".join(row[0] for row in database.execute_sql("EXPLAIN " + sql, params).fetchall())

    return retried_transaction(explain)


def assert_read_in_order_from(query, index: str) -> None:
    """The query is served by `index`, with no sort of what it found."""
    plan = plan_of(query, in_order=True)
    assert index in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def assert_searched_through_an_index(query) -> None:
    """The query finds its rows by searching an index with its condition,
    never by reading a whole table or index."""
    from models.connection import is_sqlite

    plan = plan_of(query)
    if is_sqlite():
        assert "SCAN t1" not in plan, plan
    else:
        assert "Index Cond" in plan or "Recheck Cond" in plan, plan


def assert_served_by(query, index: str) -> None:
    """The query reads through `index` (in its order, or, when the planner
    expects few rows, gathering them from it and sorting those), never a
    whole table."""
    plan = plan_of(query)
    assert index in plan, plan
    assert "Seq Scan" not in plan and "SCAN t1\n" not in plan + "\n", plan
