"""A payment keeps the id of the request that sent it (`payment.request_id`),
so that every log line of its life, settlement, publication and webhook
attempts included, carries that id as well as its own."""


def up(migrator, db):
    db.execute_sql('ALTER TABLE "payment" ADD COLUMN "request_id" VARCHAR(64)')
