"""Drop `entry_balance_id`: the (balance_id, id) index, which a balance's
statement is read by, serves every lookup by balance too, and each entry
paid for both."""


def up(migrator, db):
    migrator.migrate(migrator.drop_index("entry", "entry_balance_id"))
