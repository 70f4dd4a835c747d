"""Registration, login, email verification, password reset, external identities."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from beanie import UpdateResponse
from bson import ObjectId

from app.auth.mail import Mail, MailSender
from app.auth.scoping import read_by_id, update_and_read
from app.auth.security import (
    TokenSubject,
    hash_password,
    new_secret,
    sha256_hex,
    verify_password,
)
from app.engine import insert_unless_exists
from app.errors import BadRequest, Conflict, Unauthorized
from documents.api_key import ApiKey
from documents.base import utcnow
from documents.outbox import OutboxMessage
from documents.user import ExternalIdentity, User

VERIFY_TOKEN_LIFETIME = timedelta(hours=48)
RESET_TOKEN_LIFETIME = timedelta(hours=1)


async def register(email: str, password: str, name: str | None, birthdate: date | None) -> User:
    user = User(
        email=email.lower(), password_hash=hash_password(password), name=name, birthdate=birthdate
    )
    if not await insert_unless_exists(user):
        raise Conflict("An account with this email already exists.")
    return user


async def authenticate(email: str, password: str) -> User:
    if len(password) > 1024 or len(email) > 320:
        raise Unauthorized("Incorrect email or password.")
    user = await User.find_one({"email": email.strip().lower()})
    if not verify_password(password, user.password_hash if user else None) or user is None:
        raise Unauthorized("Incorrect email or password.")
    return user


MAIL_TEXT = {
    "verify": ("Confirm your email address", "Confirm your email address with this token: {token}"),
    "reset": ("Reset your password", "Reset your password with this token: {token}"),
}


async def _send_token(user: User, kind: str, lifetime: timedelta, sender: MailSender) -> None:
    """A single-use token: the outbox row keeps its hash, only the mail carries the token."""
    token = new_secret(32)
    message = OutboxMessage(
        to=user.email,
        user_id=user.id,
        kind=kind,
        token_hash=sha256_hex(token),
        expires_at=utcnow() + lifetime,
    )
    await message.insert()
    subject, text = MAIL_TEXT[kind]
    await sender.send(Mail(to=user.email, subject=subject, text=text.format(token=token)))
    await OutboxMessage.find_one({"_id": message.id}).update({"$set": {"sent_at": utcnow()}})


async def request_verification(user: User, sender: MailSender) -> None:
    if not user.email_verified:
        await _send_token(user, "verify", VERIFY_TOKEN_LIFETIME, sender)


async def _consume_token(token: str, kind: str) -> ObjectId:
    """Mark the token used in one findAndModify, so it works exactly once."""
    now = utcnow()
    message = await OutboxMessage.find_one(
        {
            "token_hash": sha256_hex(token),
            "kind": kind,
            "used_at": None,
            "expires_at": {"$gt": now},
        }
    ).update({"$set": {"used_at": now}}, response_type=UpdateResponse.NEW_DOCUMENT)
    if message is None or message.user_id is None:
        raise BadRequest("The token is invalid, expired or already used.")
    return message.user_id


async def verify_email(token: str) -> User:
    user_id = await _consume_token(token, "verify")
    user = await User.find_one({"_id": user_id}).update(
        {"$set": {"email_verified": True, "updated_at": utcnow()}},
        response_type=UpdateResponse.NEW_DOCUMENT,
    )
    if user is None:
        raise BadRequest("The account no longer exists.")
    return user


async def forgot_password(email: str, sender: MailSender) -> None:
    user = await User.find_one({"email": email.lower()})
    if user is not None and user.password_hash is not None:
        await _send_token(user, "reset", RESET_TOKEN_LIFETIME, sender)


async def reset_password(token: str, password: str) -> None:
    user_id = await _consume_token(token, "reset")
    await User.find_one({"_id": user_id}).update(
        {"$set": {"password_hash": hash_password(password), "updated_at": utcnow()}}
    )


# A key's owner never changes, so each process remembers it (bounded): for a key it has seen,
# the owner is read while the key's use is counted, not after it. Both reads still happen on
# every request, so a revoked key or a deleted owner is refused at once.
_key_owners: dict[str, ObjectId] = {}
KEY_OWNERS_MAX = 10_000


async def use_api_key(key: str) -> tuple[ApiKey, User] | None:
    """The live key with this secret and its owner, the key's use counted in the same
    findAndModify (no read-modify-write); None for an unknown or revoked key, or an owner
    that no longer exists."""
    key_hash = sha256_hex(key)
    owner_id = _key_owners.get(key_hash)
    if owner_id is None:
        api_key = await _count_use(key_hash)
        user = await read_by_id(User, api_key.owner_id) if api_key is not None else None
    else:
        api_key, user = await asyncio.gather(_count_use(key_hash), read_by_id(User, owner_id))
    if api_key is None or user is None or user.id != api_key.owner_id:
        return None
    if owner_id is None:
        if len(_key_owners) >= KEY_OWNERS_MAX:
            _key_owners.clear()
        _key_owners[key_hash] = api_key.owner_id
    return api_key, user


async def _count_use(key_hash: str) -> ApiKey | None:
    return await update_and_read(
        ApiKey,
        {"key_hash": key_hash, "revoked_at": None},
        {"$inc": {"usage.count": 1}, "$set": {"usage.last_used_at": utcnow()}},
    )


async def user_for_external_identity(subject: TokenSubject) -> User:
    """Find or create the user behind an external (issuer, sub).

    The identity row is claimed by an insert that fixes the user id (unique on issuer and sub);
    the losers of that race read the winner's row. The user is then inserted with that id, and
    the losers of the user insert find the winner's document: one user, whatever the timing and
    whatever code the engine reports a unique violation with.
    """
    key = {"issuer": subject.issuer, "sub": subject.external_sub}
    identity = await ExternalIdentity.find_one(key)
    if identity is None:
        claim = ExternalIdentity(**key, user_id=ObjectId())
        if await insert_unless_exists(claim):
            identity = claim
        else:
            identity = await ExternalIdentity.find_one(key)
            if identity is None:  # pragma: no cover - refused only when the row exists
                raise Conflict("The identity is being created concurrently; try again.")
    user_id = identity.user_id
    user = await User.get(user_id)
    if user is not None:
        return user
    email = (subject.email or "").lower()
    for candidate in (email, f"{user_id}@external.invalid"):
        if not candidate:
            continue
        user = User(id=user_id, email=candidate, name=subject.name, email_verified=False)
        if await insert_unless_exists(user):
            return user
        existing = await User.get(user_id)
        if existing is not None:
            return existing  # a concurrent request created it
        # The email belongs to another account: fall back to a placeholder address.
    raise Conflict("Could not create a user for this identity.")
