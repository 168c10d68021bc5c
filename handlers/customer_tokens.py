"""Customer tokens of an account: issue one, list them, revoke one (admin)."""

from __future__ import annotations

from models.customer_tokens import customer_token, issue_customer_token, revoke_customer_token, tokens_of_account
from models.pagination import parse_limit
from models.serialize import customer_token_json

from .accounts import ACCOUNT_ID
from .base import APIHandler, scope


class AccountTokensHandler(APIHandler):
    @scope("admin")
    async def get(self, account_id: str) -> None:
        limit, cursor = parse_limit(self.get_query_argument("limit", None)), self.get_query_argument("cursor", None)

        def work() -> dict:
            rows, next_cursor = tokens_of_account(account_id, limit, cursor)
            return {"data": [customer_token_json(t) for t in rows], "next_cursor": next_cursor}

        self.send(await self.run_db(work))

    @scope("admin")
    async def post(self, account_id: str) -> None:
        created = await self.create(lambda body: issue_customer_token(account_id, body), id_of=lambda t: str(t[0].id))
        if created.made is None:
            # The secret is shown once: a replay cannot show it again.
            token = await self.run_db(lambda: customer_token(account_id, created.id))
            self.send(customer_token_json(token), 200, replayed=True)
            return
        token, secret = created.made
        self.send({**customer_token_json(token), "token": secret}, 201)


class AccountTokenHandler(APIHandler):
    @scope("admin")
    async def delete(self, account_id: str, token_id: str) -> None:
        self.send(customer_token_json(await self.run_transaction(lambda: revoke_customer_token(account_id, token_id))))


default_handlers = [
    (rf"/api/v1/accounts/{ACCOUNT_ID}/tokens", AccountTokensHandler),
    (rf"/api/v1/accounts/{ACCOUNT_ID}/tokens/([^/]+)", AccountTokenHandler),
]
