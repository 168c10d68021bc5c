"""Who may call: API tokens with scopes, and dashboard operators."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from peewee import AutoField, BooleanField, CharField, DateTimeField, IntegrityError

from .access import record_access
from .actors import ANONYMOUS, Acting, Actor
from .connection import BaseModel, database, utcnow
from .errors import ApiError, invalid
from .pagination import SEQ, decode_cursor, page
from .recently_checked import RecentlyChecked

SCOPES = ("read", "write", "admin")
ROLES = ("admin", "viewer")
TOKEN_PREFIX = "pgw_"

_hasher = PasswordHasher()

# Tokens this process has checked lately, by digest. Saves a database read
# on every request; only live tokens are kept.
TOKEN_CACHE_SECONDS = 5.0
USE_NOTED_EVERY = timedelta(minutes=1)
_live_tokens: RecentlyChecked[ApiToken] = RecentlyChecked(TOKEN_CACHE_SECONDS)


@functools.cache
def _nobody() -> str:
    """A hash to check against when no operator has the email given, so that
    a wrong email takes as long to refuse as a wrong password."""
    return _hasher.hash(secrets.token_urlsafe(16))


def scope_allows(granted: str, needed: str) -> bool:
    """Scopes are nested: admin can do what write can, write what read can."""
    return SCOPES.index(granted) >= SCOPES.index(needed)


def _digest(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is as safe as a slow one,
    # and looking up its digest compares nothing secret in Python.
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(BaseModel):
    id = AutoField()
    name = CharField(max_length=100)
    scope = CharField(max_length=8)
    digest = CharField(max_length=64, unique=True)
    hint = CharField(max_length=16)
    created_at = DateTimeField(default=utcnow)
    revoked_at = DateTimeField(null=True)
    last_used_at = DateTimeField(null=True)
    # A customer token's account (`models.customer_tokens`); None for operators'.
    account_id = CharField(max_length=64, null=True)
    expires_at = DateTimeField(null=True)

    @classmethod
    def issue(cls, name: str, scope: str) -> tuple[ApiToken, str]:
        """Create a token; the secret is returned once and stored only hashed."""
        problems = {}
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            problems["name"] = "must be a non-empty string of at most 100 characters"
        if scope not in SCOPES:
            problems["scope"] = "must be one of read, write, admin"
        if problems:
            raise invalid(problems)
        return cls.mint(name=name.strip(), scope=scope)

    @classmethod
    def mint(cls, **fields: object) -> tuple[ApiToken, str]:
        """Store a token with these fields and a new secret, returned once
        and stored only hashed."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.create(digest=_digest(secret), hint=secret[:8] + "…", **fields)
        record_access("token.created", token.label)
        return token, secret

    @property
    def label(self) -> str:
        """How the access log names it."""
        return f"{self.name} (token {self.id}, {self.scope})"

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= utcnow()

    @classmethod
    def authenticate(cls, secret: str) -> ApiToken | None:
        """The live token whose secret this is (not revoked, not expired), or None."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
            return None
        digest = _digest(secret)
        token = cls.get_or_none(cls.digest == digest)
        if token is None or token.revoked_at is not None or token.expired:
            return None
        # The row was found by its digest; compare once more in constant time
        # so the answer never depends on how much of a guess was right.
        if not hmac.compare_digest(token.digest, digest):
            return None
        _live_tokens.remember(digest, token)
        return token

    @classmethod
    def remembered(cls, secret: str) -> ApiToken | None:
        """The live token for `secret` if this process checked it in the last
        TOKEN_CACHE_SECONDS, without touching the database; else None (ask
        `authenticate`). A revocation in this process takes effect at once,
        one in another process within TOKEN_CACHE_SECONDS."""
        token = _live_tokens.get(_digest(secret))
        if token is None or token.expired:
            return None
        return token

    @classmethod
    def newest_first(cls, limit: int, cursor: str | None) -> tuple[list[ApiToken], str | None]:
        """A page of tokens, revoked ones included, newest first."""
        query = cls.select()
        key = decode_cursor(cursor, SEQ)
        if key:
            query = query.where(cls.id < key[0])
        return page(list(query.order_by(cls.id.desc()).limit(limit + 1)), limit, lambda t: [t.id])

    def note_use(self) -> None:
        """Remember that the token was used now, at most once a minute (a
        write per request would cost more than the request)."""
        now = utcnow()
        if self.last_used_at is not None and now - self.last_used_at < USE_NOTED_EVERY:
            return
        self.last_used_at = now
        stale = ApiToken.last_used_at.is_null() | (ApiToken.last_used_at < now - USE_NOTED_EVERY)
        ApiToken.update(last_used_at=now).where((ApiToken.id == self.id) & stale).execute()

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = utcnow()
            self.save()
            record_access("token.revoked", self.label)
        # Forget it now and again once committed, in case a request read the
        # row, still live, in between.
        _live_tokens.forget(self.digest)
        database.after_commit(lambda: _live_tokens.forget(self.digest))


class Operator(BaseModel):
    """A person who logs in to the dashboard."""

    id = AutoField()
    email = CharField(max_length=254, unique=True)
    password_hash = CharField(max_length=200)
    role = CharField(max_length=8, default="admin")
    created_at = DateTimeField(default=utcnow)
    # A disabled operator cannot log in, and their sessions end.
    active = BooleanField(default=True)
    last_login_at = DateTimeField(null=True)

    @classmethod
    def register(cls, email: str, password: str, role: str = "admin") -> Operator:
        problems = {}
        if not isinstance(email, str) or "@" not in email or len(email) > 254:
            problems["email"] = "must be an email address"
        if not isinstance(password, str) or len(password) < 8:
            problems["password"] = "must be at least 8 characters"
        if role not in ROLES:
            problems["role"] = "must be admin or viewer"
        if problems:
            raise invalid(problems)
        try:
            with database.atomic():
                operator = cls.create(email=email.lower(), password_hash=_hasher.hash(password), role=role)
        except IntegrityError:
            raise ApiError(409, "operator_exists", f"operator {email} already exists") from None
        record_access("operator.created", f"{operator.email} ({role})")
        return operator

    @classmethod
    def authenticate(cls, email: str, password: str) -> Operator | None:
        """The operator with this email and password, or None, in the same
        time whether the email or the password was wrong."""
        operator = cls.get_or_none(cls.email == email.strip().lower())
        if operator is None:
            _check(_nobody(), password)
            return None
        return operator if operator.check_password(password) else None

    def check_password(self, password: str) -> bool:
        return _check(self.password_hash, password)

    @property
    def actor(self) -> Actor:
        return Actor("operator", self.id, self.email)


def record_log_in(email: str, operator: Operator | None, acting: Acting) -> None:
    """An attempt to log in as `email` from `acting`'s address: `operator`
    when it succeeded (their last log-in is now), None when it was refused."""
    if operator is None:
        record_access("operator.login_refused", email.strip().lower(), acting._replace(actor=ANONYMOUS))
        return
    Operator.update(last_login_at=utcnow()).where(Operator.id == operator.id).execute()
    record_access("operator.logged_in", operator.email, acting._replace(actor=operator.actor))


def record_log_out(operator: Operator, acting: Acting) -> None:
    record_access("operator.logged_out", operator.email, acting._replace(actor=operator.actor))


def hash_password(password: str) -> str:
    """A password's Argon2id hash, as operators' are stored."""
    return _hasher.hash(password)


def _check(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except VerificationError:
        return False
