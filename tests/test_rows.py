"""Model instances made from whole rows at once (`models.rows.instances`)
are the ones Peewee would make field by field: the same values, of the same
types, and they save like any other."""

from __future__ import annotations

from tests.support.bodies import transfer
from tests.support.ledger import open_account


def test_instances_hold_exactly_what_peewees_own_instances_hold(writer, admin):
    from models.ledger import Payment
    from models.peewee_internals import row_values
    from models.retry import read_only
    from models.rows import instances

    payer = open_account(writer, admin, {"PHP": "10.00", "USD": "5.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    for body in (transfer(payer, payee, currency="PHP"), transfer(payer, payee, currency="PHP", reference="R-1")):
        assert writer.post("/api/v1/payments", body, wait=20).status in (200, 201)
    query = Payment.select().where((Payment.from_account == payer) | (Payment.to_account == payer))
    query = query.order_by(Payment.id.desc())

    made, peewees = read_only(lambda: (instances(query), list(query)))
    assert [type(p) for p in made] == [Payment] * len(peewees) and len(made) >= 3
    assert [row_values(p) for p in made] == [row_values(p) for p in peewees]
    assert [{k: type(v) for k, v in row_values(p).items()} for p in made] == [
        {k: type(v) for k, v in row_values(p).items()} for p in peewees
    ]
