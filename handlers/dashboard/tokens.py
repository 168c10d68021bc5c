"""API tokens: create one (its secret is shown once, on the page that
answers the form, and stored only hashed), list them, revoke them; and
revoke a customer token from its account's page."""

from __future__ import annotations

from models.auth import ApiToken
from models.customer_tokens import revoke_customer_token
from models.errors import ApiError, not_found
from models.serialize import token_json

from .base import PageHandler, admin_only, viewer
from .forms import Arguments, TokenForm, show_refusal

PAGE_SIZE = 50


def tokens_page(cursor: str | None) -> dict:
    rows, next_cursor = ApiToken.newest_first(PAGE_SIZE, cursor)
    return {"tokens": [token_json(t) for t in rows], "next_cursor": next_cursor}


class TokensHandler(PageHandler):
    async def show(
        self, form: TokenForm, status: int = 200, problem: str | None = None, created: dict | None = None
    ) -> None:
        cursor = self.get_query_argument("cursor", None)
        data = await self.run_db(lambda: tokens_page(cursor))
        self.render_page("tokens.html", status, form=form, problem=problem, created=created, **data)

    @viewer
    async def get(self) -> None:
        await self.show(TokenForm())

    @admin_only
    async def post(self) -> None:
        form = TokenForm(Arguments.posted(self))
        if not form.validate():
            await self.show(form, 422)
            return
        name, scope = form.name.data, form.scope.data
        try:
            token, secret = await self.run_transaction(lambda: ApiToken.issue(name, scope))
        except ApiError as error:
            await self.show(form, error.status, show_refusal(form, error))
            return
        # Rendered here, not after a redirect: the secret must never sit in a
        # cookie or a URL.
        await self.show(TokenForm(), 201, created={"token": token_json(token), "secret": secret})


class TokenRevokeHandler(PageHandler):
    @admin_only
    async def post(self, token_id: str) -> None:
        def revoke() -> ApiToken:
            token = ApiToken.get_or_none(ApiToken.id == int(token_id))
            if token is None:
                raise not_found(f"token {token_id}")
            token.revoke()
            return token

        token = await self.run_transaction(revoke)
        self.done("/tokens", f"Token {token.name!r} revoked: requests with it are refused from now on.")


class CustomerTokenRevokeHandler(PageHandler):
    @admin_only
    async def post(self, account_id: str, token_id: str) -> None:
        token = await self.run_transaction(lambda: revoke_customer_token(account_id, token_id))
        self.done(
            f"/accounts/{account_id}",
            f"Customer token {token.hint} revoked: its requests are refused and its feeds closed.",
        )


default_handlers = [
    (r"/tokens", TokensHandler),
    (r"/tokens/([0-9]{1,18})/revoke", TokenRevokeHandler),
    (r"/accounts/([^/]+)/tokens/([0-9]{1,18})/revoke", CustomerTokenRevokeHandler),
]
