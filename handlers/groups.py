"""Payment groups: payments sent together, atomically or each on its own."""

from __future__ import annotations

from models.groups import group_detail, submit_group
from models.ledger import PaymentGroup
from web.protocol import MAX_GROUP_BODY_BYTES

from .base import APIHandler, scope
from .payments import PaymentIntakeHandler


class PaymentGroupsHandler(PaymentIntakeHandler):
    max_body_bytes = MAX_GROUP_BODY_BYTES

    @scope("write")
    async def post(self) -> None:
        """202 with the group and its payments, pending; with `Prefer:
        wait=N`, 201 once the group is over, if it is within N seconds."""

        def submit(body: object) -> PaymentGroup:
            group, _ = submit_group(body, self.request_settlement)
            return group

        created = await self.create(submit, id_of=lambda group: group.id)
        wait = self.wait_seconds()
        body = await self.read_when_settled(created.id, wait, group_detail)
        if wait:
            self.set_header("Preference-Applied", f"wait={wait}")
        status = 200 if created.replayed else 201 if wait and body["status"] != "pending" else 202
        self.send(body, status, created.replayed)


class PaymentGroupHandler(APIHandler):
    @scope("read")
    async def get(self, group_id: str) -> None:
        self.send(await self.run_db(lambda: group_detail(group_id)))


default_handlers = [
    (r"/api/v1/payment-groups", PaymentGroupsHandler),
    (r"/api/v1/payment-groups/([^/]+)", PaymentGroupHandler),
]
