"""``tollgate rotate-master-key``: re-seal every provider secret under a new master key.

Crash-safe order: the new key is written to ``master.key.next`` first (every server holds it
for opening from then on), then all credentials are re-sealed in one transaction, then the
files are swapped (``master.key`` is linked as ``master.key.prev``, then ``.next`` replaces
``master.key`` atomically). An interruption at any point leaves every secret openable, and
``master.key`` never goes missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from redis.asyncio import Redis

from tollgate.core.settings import Settings
from tollgate.services.changes import ChangeFeed, FileChangeFeed, RedisChangeFeed
from tollgate.services.credentials_base import sealing_context
from tollgate.services.sealing import (
    KEY_FILE,
    NEXT_KEY_FILE,
    PREVIOUS_KEY_FILE,
    Keyring,
    load_keyring,
    new_master_key,
    parse_master_key,
    write_key_file,
)
from tollgate.store.migrations import migrate
from tollgate.store.records import ProviderCredential
from tollgate.store.repos import open_store


@dataclass(frozen=True, slots=True)
class Rotation:
    resealed: int
    new_key_id: str
    new_key_text: str | None  # shown when the key lives in the environment, not a file


async def rotate_master_key(settings: Settings, new_key_text: str | None = None) -> Rotation:
    home = settings.home
    old = load_keyring(home, settings.master_key, create=False)
    text = new_key_text or new_master_key()
    new_key = parse_master_key(text)
    write_key_file(home / NEXT_KEY_FILE, text)
    new = Keyring(new_key)

    def reseal(cred: ProviderCredential) -> str:
        context = sealing_context(cred)
        return new.seal(old.open(cred.sealed_secret, context), context)

    store = await open_store(settings.sqlalchemy_url)
    try:
        await migrate(store.engine)
        count = await store.credentials.reseal_all(reseal)
    finally:
        await store.close()
    shown: str | None = None
    if settings.master_key:
        shown = text  # the operator must put it in TOLLGATE_MASTER_KEY; .next keeps servers working meanwhile
    else:
        # master.key must exist at every instant (a worker starting now would otherwise mint a
        # key of its own): keep the old one as .prev by a link, then swap the new one in.
        (home / PREVIOUS_KEY_FILE).unlink(missing_ok=True)
        os.link(home / KEY_FILE, home / PREVIOUS_KEY_FILE)
        os.replace(home / NEXT_KEY_FILE, home / KEY_FILE)
    # Tell running servers: they reload their keyring with the re-sealed rows.
    feed: ChangeFeed = (
        RedisChangeFeed(Redis.from_url(settings.redis_url))
        if settings.redis_url
        else FileChangeFeed(home / "generation")
    )
    await feed.bump()
    await feed.close()
    return Rotation(count, new.current_id, shown)
