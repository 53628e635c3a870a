"""The poll dispatcher's bookkeeping in Redis: which trades are due (`Keys.poll_due`) and which polls are in
flight (dispatched, not yet started), so that the dispatcher never enqueues more than the workers drain.

A poll is in flight from the moment the dispatcher enqueues it until its task starts (`started`). An entry
counts for at most the lease: a task lost with its worker, or expired in the broker, stops counting exactly
when its trade's lease runs out and the trade is claimed again. The count, the claim and the record are one
Lua script, so two dispatchers at once share one budget.
"""

from __future__ import annotations

from functools import lru_cache

import redis
from redis.commands.core import Script

from worker.store import Keys

POLLS_IN_FLIGHT = f"{Keys.prefix}:poll:in_flight"
"""Sorted set: out_trade_no of each trade whose poll is enqueued and not yet started, scored by the Unix time
it was dispatched."""

# KEYS: poll_due, in_flight. ARGV: now, batch, lease_until (now + lease), counted_after (now - lease), budget.
# Oldest due first (ZRANGEBYSCORE is ordered by score); what is not claimed keeps its score and stays due.
_CLAIM_WITHIN_BUDGET = """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
local room = tonumber(ARGV[5]) - redis.call('ZCARD', KEYS[2])
local limit = math.min(room, tonumber(ARGV[2]))
if limit <= 0 then
  return {}
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, limit)
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[3], member)
  redis.call('ZADD', KEYS[2], ARGV[1], member)
end
return due
"""


@lru_cache(maxsize=8)
def _script(client: redis.Redis) -> Script:
    return client.register_script(_CLAIM_WITHIN_BUDGET)


def claim_due(client: redis.Redis, now: float, *, limit: int, lease_s: float, max_in_flight: int) -> list[str]:
    """Take the trades due at `now`, oldest due first, at most `limit` and at most what the in-flight budget
    has room for (`max_in_flight` minus the polls dispatched less than `lease_s` ago and not yet started).
    Each one is pushed `lease_s` ahead on the schedule (the poll sets its real next time when it ends) and
    recorded as in flight since `now`. Entries older than the lease are dropped."""
    due = _script(client)(keys=[Keys.poll_due, POLLS_IN_FLIGHT],
                          args=[repr(now), limit, repr(now + lease_s), repr(now - lease_s), max_in_flight])
    return [m.decode() if isinstance(m, bytes) else str(m) for m in due]


def started(client: redis.Redis, *out_trade_nos: str) -> None:
    """The trades' polls have started: they no longer wait in the broker, and free their slots."""
    client.zrem(POLLS_IN_FLIGHT, *out_trade_nos)


def in_flight(client: redis.Redis, now: float, lease_s: float) -> int:
    """Polls dispatched less than `lease_s` before `now` and not yet started (what the budget counts)."""
    return int(client.zcount(POLLS_IN_FLIGHT, f"({now - lease_s!r}", "+inf"))
