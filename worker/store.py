"""Jobs and orders in Redis: the single source the API answers from.

Every key name is built by `Keys`. Every change is a pure transition from `worker.transitions` applied
optimistically: the records are read in one MGET, the change is computed here, and one script writes it only
if none of the records read has changed meanwhile (otherwise they are read again). Concurrent writers (API,
workers, notifications) so never lose or reverse each other's changes, at two round trips a change. Records
are JSON strings.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import orjson
import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from worker import defaults
from worker.events import EventType, new_event, order_events
from worker.states import JobStatus, JobType, OrderStatus, RefundStatus
from worker.transitions import Record, TransitionRefused, close_unconfirmed, refund_reserved


class Keys:
    """Redis key names, all under one prefix."""

    prefix = "alipay"

    @classmethod
    def job(cls, job_id: str) -> str:
        return f"{cls.prefix}:job:{job_id}"

    @classmethod
    def order(cls, out_trade_no: str) -> str:
        return f"{cls.prefix}:order:{out_trade_no}"

    @classmethod
    def precreate_identity(cls, out_trade_no: str) -> str:
        return f"{cls.prefix}:idem:precreate:{out_trade_no}"

    @classmethod
    def refund_identity(cls, out_trade_no: str, out_request_no: str) -> str:
        return f"{cls.prefix}:idem:refund:{out_trade_no}:{out_request_no}"

    @classmethod
    def idempotency_key(cls, digest: str) -> str:
        """A client's Idempotency-Key, by its SHA-256 (keys are the client's own text, of any shape)."""
        return f"{cls.prefix}:idem:key:{digest}"

    @classmethod
    def job_done_channel(cls, job_id: str) -> str:
        return f"{cls.prefix}:job-done:{job_id}"

    @classmethod
    def notification(cls, notify_id: str) -> str:
        return f"{cls.prefix}:notify:{notify_id}"

    poll_due = "alipay:poll:due"
    """Sorted set: out_trade_no scored by the Unix time its next query is due."""

    polls_in_flight = "alipay:poll:in_flight"
    """Sorted set: out_trade_no of each trade whose poll is enqueued and not yet started, scored by the Unix
    time it was dispatched: what the dispatcher's budget counts (see `Store.claim_due_polls`)."""

    webhooks_due = "alipay:webhooks:due"
    """Sorted set: out_trade_no of orders with webhook events to deliver, scored by when to try next."""

    @classmethod
    def event(cls, event_id: str) -> str:
        return f"{cls.prefix}:event:{event_id}"

    @classmethod
    def order_events(cls, out_trade_no: str) -> str:
        """List of the order's event ids, oldest first."""
        return f"{cls.prefix}:events:{out_trade_no}"

    active_jobs = "alipay:jobs:active"
    """Sorted set: ids of jobs not yet finished, scored by the Unix time of their last change."""

    orders_by_status = "alipay:orders:by_status"
    """Hash: order status -> how many orders are in it, changed in the transaction that changes an order."""

    unsettled = "alipay:orders:unsettled"
    """Sorted set: out_trade_no of every order still open, closed by us at its deadline and not yet confirmed at
    the gateway, or with a refund in flight, scored by the Unix time the store last learned something about it
    (or last asked the gateway); reconciliation sweeps the oldest."""

    @classmethod
    def ledger(cls, day: str) -> str:
        """Set: out_trade_no of the orders paid, or with a refund done, on that Beijing day (`yyyy-MM-dd`)."""
        return f"{cls.prefix}:ledger:{day}"

    @classmethod
    def reconciliation_report(cls, day: str) -> str:
        return f"{cls.prefix}:reconcile:report:{day}"

    @classmethod
    def reconciliation_failure(cls, day: str) -> str:
        return f"{cls.prefix}:reconcile:failure:{day}"

    @classmethod
    def reconciliation_lock(cls, name: str) -> str:
        return f"{cls.prefix}:reconcile:lock:{name}"

    reconciliation_sweep_last = "alipay:reconcile:sweep:last"
    """The counts of the last reconciliation sweep (JSON)."""


class Conflict(Exception):
    """The identity (out_trade_no, or out_trade_no + out_request_no) was used with other parameters."""

    def __init__(self, message: str, job_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.job_id = job_id


class OrderNotFound(Exception):
    """No order with that out_trade_no is kept here."""


@dataclass(frozen=True)
class Submission:
    job_id: str
    created: bool
    written: tuple[bytes, ...] = ()
    """A new precreate's job and order as this submission wrote them: what its task can expect to find, so that
    it starts from them instead of reading them (`Store.start_job`)."""
    queued: bool = False
    """The job's task message went into the broker's queue in the same write (see `Outbox`)."""


Outbox = Callable[[tuple[bytes, ...]], Sequence[tuple[str, str | bytes]]]
"""What a submission pushes onto broker queues in the same write as the job, when the broker is this store's
Redis: given the records the submission writes (a precreate's job and order; nothing for the others), the
(list, message) pairs to push. So a job and its task exist together or not at all: nothing to withdraw when
queueing fails, and no task that runs before its job is written."""


def _push(pipe: Writes | redis.client.Pipeline, outbox: Outbox | None, written: tuple[bytes, ...]) -> bool:
    """Queue the outbox's pushes on `pipe` (a script's writes, or a MULTI pipeline); whether there was one."""
    for key, message in outbox(written) if outbox is not None else ():
        pipe.lpush(key, message)
    return outbox is not None


_CLAIM_DUE_POLLS = """
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
"""`_CLAIM_DUE` within a budget. KEYS: poll_due, polls_in_flight. ARGV: now, batch, lease_until (now + lease),
counted_after (now - lease), budget. Oldest due first; what is not claimed keeps its score and stays due."""


_CLAIM_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[3], member)
end
return due
"""


T = TypeVar("T")

_LEDGER_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


_CHECK_AND_WRITE = """
local values, same = {}, true
for i = 1, #KEYS do
  local current = redis.call('GET', KEYS[i])
  values[i] = current
  if current then
    same = same and ARGV[i] == '=' .. current
  else
    same = same and ARGV[i] == '-'
  end
end
if not same then return values end
local i = #KEYS + 1
while i <= #ARGV do
  local count = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + count))
  i = i + count + 1
end
return 1
"""
"""Compare, then write: KEYS are the records a change was computed from and ARGV[i] is what it took KEYS[i] to
hold ('=' and the value, or '-' when absent). Only when every one still holds that are the writes applied: the
rest of ARGV, each command as its argument count followed by its arguments. Otherwise nothing is written and the
records' current values are returned (nil for an absent one), for the change to be computed again. The writes
also touch indexes not named in KEYS: right for the one Redis server this service runs on, not for a Cluster."""


_FINISH_DELIVERY = """
if redis.call('LLEN', KEYS[2]) > tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
"""


def _dump(record: Record) -> bytes:
    """A record as compact UTF-8 JSON (orjson: a few times faster than `json`, on every change of every job)."""
    return orjson.dumps(record)


def _raw(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _load(raw: bytes | str | None) -> Record | None:
    return None if raw is None else orjson.loads(raw)


def _names(items: Any) -> list[str]:
    """Redis replies (bytes or str) as a list of str."""
    return [m.decode() if isinstance(m, bytes) else str(m) for m in items]


class Writes:
    """The Redis commands of one change, queued in order, for `_CHECK_AND_WRITE` to apply all at once."""

    def __init__(self) -> None:
        self.args: list[str | bytes | int | float] = []

    def __bool__(self) -> bool:
        return bool(self.args)

    def _add(self, *command: str | bytes | int | float) -> None:
        self.args.append(len(command))
        self.args.extend(command)

    def set(self, key: str, value: str | bytes, ex: int | None = None) -> None:
        self._add("SET", key, value, *(("EX", ex) if ex else ()))

    def delete(self, *keys: str) -> None:
        self._add("DEL", *keys)

    def zadd(self, key: str, mapping: dict[str, float], nx: bool = False) -> None:
        pairs = [item for member, score in mapping.items() for item in (score, member)]
        self._add("ZADD", key, *(("NX",) if nx else ()), *pairs)

    def zrem(self, key: str, *members: str) -> None:
        self._add("ZREM", key, *members)

    def hincrby(self, key: str, field: str, amount: int) -> None:
        self._add("HINCRBY", key, field, amount)

    def sadd(self, key: str, *members: str) -> None:
        self._add("SADD", key, *members)

    def rpush(self, key: str, *values: str) -> None:
        self._add("RPUSH", key, *values)

    def lpush(self, key: str, *values: str | bytes) -> None:
        self._add("LPUSH", key, *values)

    def expire(self, key: str, seconds: int) -> None:
        self._add("EXPIRE", key, seconds)

    def publish(self, channel: str, message: str | bytes) -> None:
        self._add("PUBLISH", channel, message)


def is_unsettled(order: Record) -> bool:
    """Whether the order still waits on the gateway: open, closed by us at its deadline but not yet confirmed
    closed at the gateway, or with a refund in flight or of unknown outcome."""
    if OrderStatus(order["status"]).open or close_unconfirmed(order):
        return True
    return any(r.get("status") in (RefundStatus.PENDING, RefundStatus.UNKNOWN) for r in order.get("refunds", []))


def _ledger_days(order: Record) -> set[str]:
    """The Beijing days on which money moved for the order: its payment, and each refund done."""
    stamps = [order.get("gmt_payment")]
    stamps += [r.get("gmt_refund_pay") for r in order.get("refunds", [])
               if r.get("status") == RefundStatus.REFUND_SUCCESS]
    return {s[:10] for s in stamps if isinstance(s, str) and _LEDGER_DAY.match(s)}


def _count(pipe: Writes, old: Record | None, new: Record | None) -> None:
    """Move an order between the per-status counts; `old` None for a new order, `new` None for
    one removed. Keeps the orders gauge of /metrics O(1) to read."""
    before, after = (old or {}).get("status"), (new or {}).get("status")
    if before == after:
        return
    if before:
        pipe.hincrby(Keys.orders_by_status, before, -1)
    if after:
        pipe.hincrby(Keys.orders_by_status, after, 1)


def _track(pipe: Writes, order: Record) -> None:
    if is_unsettled(order):
        pipe.zadd(Keys.unsettled, {order["out_trade_no"]: time.time()})
    else:
        pipe.zrem(Keys.unsettled, order["out_trade_no"])
    for day in _ledger_days(order):
        pipe.sadd(Keys.ledger(day), order["out_trade_no"])
        pipe.expire(Keys.ledger(day), defaults.LEDGER_RETENTION_S)


class Store:
    def __init__(self, client: redis.Redis, *, job_ttl_s: int = defaults.JOB_RETENTION_S,
                 order_ttl_s: int = defaults.ORDER_RETENTION_S) -> None:
        self.redis = client
        self.job_ttl_s = job_ttl_s
        self.order_ttl_s = order_ttl_s
        self._claim_due = client.register_script(_CLAIM_DUE)
        self._claim_due_polls = client.register_script(_CLAIM_DUE_POLLS)
        self._finish_delivery = client.register_script(_FINISH_DELIVERY)
        self._check_and_write = client.register_script(_CHECK_AND_WRITE)

    def _change(self, keys: list[str], body: Callable[[list[bytes | None], Writes], T], *,
                guess: list[bytes | None] | None = None) -> T:
        """Let `body` queue the writes of a change computed from the records at `keys`, and apply them only if
        those records still hold what `body` was given; otherwise run `body` again on their current values.

        `body` first gets `guess` (what the caller expects, such as nothing yet for a new order) or else one MGET
        of the records. A wrong guess costs no more than the MGET: the script answers with the current values.
        A refusal `body` raises (conflict, unknown order, refund over the total), or a change found to have no
        writes, is only accepted from a snapshot (the MGET, or the script's answer), so it is true of a moment
        when all it read held together: a concurrent identical submission is answered with the same job, never
        a spurious 409. A change with no writes sends nothing more.
        """
        values = guess
        snapshot = False
        while True:
            if values is None:
                values = [_raw(v) for v in self.redis.mget(keys)]
                snapshot = True
            writes = Writes()
            try:
                result = body(values, writes)
            except (Conflict, OrderNotFound, TransitionRefused):
                if snapshot:
                    raise
                values = None
                continue
            if not writes:
                if snapshot:
                    return result
                values = None
                continue
            expected = [b"-" if v is None else b"=" + v for v in values]
            reply = self._check_and_write(keys=keys, args=[*expected, *writes.args])
            if not isinstance(reply, list):
                return result
            values, snapshot = [_raw(v) for v in reply], True

    @classmethod
    def from_url(cls, url: str, *, outage_s: float = 1.0, **kwargs: Any) -> Store:
        """A store on its own connection pool that rides out a Redis outage (a restart) of about `outage_s`
        seconds by reconnecting with back-off: the API keeps it short and answers 503, workers keep it long so
        that a task in flight finishes instead of failing."""
        retries = max(1, int(outage_s / 0.5) + 3)
        client = redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries),
            retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
        )
        return cls(client, **kwargs)

    # --- reading ------------------------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Record | None:
        return _load(self.redis.get(Keys.job(job_id)))

    def get_order(self, out_trade_no: str) -> Record | None:
        return _load(self.redis.get(Keys.order(out_trade_no)))

    def ping(self) -> bool:
        return bool(self.redis.ping())

    # --- submissions --------------------------------------------------------------------------------------

    def _order_ex(self) -> int | None:
        return self.order_ttl_s or None

    def _identity_ex(self) -> int | None:
        return max(self.order_ttl_s, self.job_ttl_s) if self.order_ttl_s else None

    def submit_precreate(self, job: Record, order: Record, fingerprint: str,
                         outbox: Outbox | None = None) -> Submission:
        """Create the job and its order, or return the job already made for this out_trade_no; a new job's task
        is queued in the same write when `outbox` is given.

        Raises Conflict when the out_trade_no was used with other parameters.
        """
        otn = order["out_trade_no"]
        identity, order_key = Keys.precreate_identity(otn), Keys.order(otn)

        def txn(read: list[bytes | None], pipe: Writes) -> Submission:
            existing, current_order = read
            if existing is not None:
                return self._same_or_conflict(existing, fingerprint, f"outTradeNo {otn}")
            if current_order is not None:
                raise Conflict(f"outTradeNo {otn} is already used by another order.")
            job_raw, order_raw = _dump(job), _dump(order)
            pipe.set(identity, f"{job['job_id']} {fingerprint}", ex=self._identity_ex())
            pipe.set(Keys.job(job["job_id"]), job_raw, ex=self.job_ttl_s)
            pipe.zadd(Keys.active_jobs, {job["job_id"]: time.time()})
            pipe.set(order_key, order_raw, ex=self._order_ex())
            _track(pipe, order)
            _count(pipe, None, order)
            queued = _push(pipe, outbox, (job_raw, order_raw))
            return Submission(job["job_id"], created=True, written=(job_raw, order_raw), queued=queued)

        return self._change([identity, order_key], txn, guess=[None, None])

    def submit_refund(self, job: Record, fingerprint: str, *, idempotency_key: str | None = None,
                      key_fingerprint: str | None = None, outbox: Outbox | None = None) -> Submission:
        """Create a refund job and reserve its amount on the order, atomically, or return the existing job.

        With an `idempotency_key` (the SHA-256 of the client's Idempotency-Key header) the same key and the
        same `key_fingerprint` return the same job for IDEMPOTENCY_KEY_S; the same key with other parameters
        is a Conflict. Raises Conflict (other parameters for the same out_request_no), OrderNotFound, or
        TransitionRefused (order not paid, or refunded + in flight + this refund would exceed the total).
        """
        request = job["request"]
        otn, orn = job["out_trade_no"], request["out_request_no"]
        identity, order_key = Keys.refund_identity(otn, orn), Keys.order(otn)
        key_key = Keys.idempotency_key(idempotency_key) if idempotency_key else None
        watched = [identity, order_key] + ([key_key] if key_key else [])

        def txn(read: list[bytes | None], pipe: Writes) -> Submission:
            existing, raw_order, *rest = read
            by_key = rest[0] if rest else None
            if by_key is not None:
                return self._same_or_conflict(by_key, key_fingerprint or "", "Idempotency-Key")
            if existing is not None:
                return self._same_or_conflict(existing, fingerprint, f"out_request_no {orn}")
            order = _load(raw_order)
            if order is None:
                raise OrderNotFound(otn)
            updated = refund_reserved(order, out_request_no=orn, amount=Decimal(request["refund_amount"]),
                                      job_id=job["job_id"])
            pipe.set(identity, f"{job['job_id']} {fingerprint}", ex=self._identity_ex())
            pipe.set(Keys.job(job["job_id"]), _dump(job), ex=self.job_ttl_s)
            pipe.zadd(Keys.active_jobs, {job["job_id"]: time.time()})
            pipe.set(order_key, _dump(updated), ex=self._order_ex())
            _track(pipe, updated)
            if key_key is not None:
                pipe.set(key_key, f"{job['job_id']} {key_fingerprint}", ex=defaults.IDEMPOTENCY_KEY_S)
            return Submission(job["job_id"], created=True, queued=_push(pipe, outbox, ()))

        return self._change(watched, txn)

    def submit_job(self, job: Record, outbox: Outbox | None = None) -> Submission:
        """Create a job that has no identity of its own (a refund query: asking twice is harmless)."""
        with self.redis.pipeline() as pipe:
            pipe.set(Keys.job(job["job_id"]), _dump(job), ex=self.job_ttl_s)
            pipe.zadd(Keys.active_jobs, {job["job_id"]: time.time()})
            queued = _push(pipe, outbox, ())
            pipe.execute()
        return Submission(job["job_id"], created=True, queued=queued)

    @staticmethod
    def _same_or_conflict(existing: bytes | str, fingerprint: str, what: str) -> Submission:
        text = existing.decode() if isinstance(existing, bytes) else existing
        job_id, _, stored = text.partition(" ")
        if stored != fingerprint:
            raise Conflict(f"{what} was already submitted with other parameters.", job_id=job_id)
        return Submission(job_id, created=False)

    def withdraw(self, job: Record) -> None:
        """Undo a submission whose task could not be queued (broker down), so that nothing is half-written.

        Only a job still queued with no attempt is withdrawn; the same submission then succeeds later.
        """
        otn = job["out_trade_no"]
        job_key, order_key = Keys.job(job["job_id"]), Keys.order(otn)
        if job["type"] == JobType.PRECREATE:
            identity = Keys.precreate_identity(otn)
        elif job["type"] == JobType.REFUND:
            identity = Keys.refund_identity(otn, job["request"]["out_request_no"])
        else:
            self.redis.delete(job_key)
            self.redis.zrem(Keys.active_jobs, job["job_id"])
            return

        def txn(read: list[bytes | None], pipe: Writes) -> None:
            current, order = (_load(raw) for raw in read)
            if current is None or current["status"] != JobStatus.QUEUED or current.get("attempts"):
                return
            pipe.delete(job_key, identity)
            pipe.zrem(Keys.active_jobs, job["job_id"])
            if job["type"] == JobType.PRECREATE:
                if order is not None and order.get("job_id") == job["job_id"] and not order.get("qr_code"):
                    pipe.delete(order_key)
                    pipe.zrem(Keys.unsettled, otn)
                    _count(pipe, order, None)
            elif order is not None:
                order["refunds"] = [r for r in order.get("refunds", []) if r.get("job_id") != job["job_id"]]
                pipe.set(order_key, _dump(order), ex=self._order_ex())
                _track(pipe, order)

        self._change([job_key, order_key], txn)

    # --- transitions --------------------------------------------------------------------------------------

    def update_job(self, job_id: str, change: Callable[[Record], Record]) -> Record | None:
        """Apply `change` atomically; publishes on the job's channel when the job ends."""
        return self._update_job([Keys.job(job_id)], change)[0]

    def start_job(self, job_id: str, out_trade_no: str, change: Callable[[Record], Record], *,
                  expected: Sequence[bytes | None] | None = None) -> tuple[Record | None, list[bytes | None]]:
        """`update_job` for the start of an attempt on a job that will end with `finish_job_and_order`: the job's
        order is read in the same round trip, and the two records as they stand after the change are returned
        with the job, for the finish to start from instead of reading them again. `expected` is what the job
        and its order are likely to hold (as the submission wrote them): right, it saves the read too."""
        return self._update_job([Keys.job(job_id), Keys.order(out_trade_no)], change, expected)

    def _update_job(self, keys: list[str], change: Callable[[Record], Record],
                    expected: Sequence[bytes | None] | None = None) -> tuple[Record | None, list[bytes | None]]:
        """Apply `change` to the job at `keys[0]`; the other records are read and compared with it, not written.
        Returns the job and the raw records at `keys` as they stand after the change."""
        after: list[bytes | None] = []

        def txn(read: list[bytes | None], pipe: Writes) -> Record | None:
            after[:] = read
            job = _load(read[0])
            if job is None:
                return None
            new = change(job)
            if new is job or new == job:
                return job
            after[0] = self._write_job(pipe, new)
            return new

        job = self._change(keys, txn, guess=list(expected) if expected else None)
        return job, after

    def _write_job(self, pipe: Writes, new: Record) -> bytes:
        """The writes of a job change: the record, the active index and, when it ends, the end message, which
        carries the final record so that a waiting request need not read it again. Returns the record."""
        job_id = new["job_id"]
        record = _dump(new)
        pipe.set(Keys.job(job_id), record, ex=self.job_ttl_s)
        if JobStatus(new["status"]).final:
            pipe.zrem(Keys.active_jobs, job_id)
            pipe.publish(Keys.job_done_channel(job_id), record)
        else:
            pipe.zadd(Keys.active_jobs, {job_id: time.time()})
        return record

    def update_order(self, out_trade_no: str, change: Callable[[Record], Record]) -> tuple[Record | None, bool]:
        """Apply `change` atomically; returns (order, changed)."""
        key = Keys.order(out_trade_no)

        def txn(read: list[bytes | None], pipe: Writes) -> tuple[Record | None, bool]:
            order = _load(read[0])
            if order is None:
                return None, False
            new = change(order)
            if new is order or new == order:
                return order, False
            self._write_order(pipe, order, new)
            return new, True

        return self._change([key], txn)

    def _write_order(self, pipe: Writes, old: Record, new: Record) -> None:
        """The writes of an order change: the record, its counts and indexes, its events."""
        otn = new["out_trade_no"]
        pipe.set(Keys.order(otn), _dump(new), ex=self._order_ex())
        _count(pipe, old, new)
        if not OrderStatus(new["status"]).open:
            pipe.zrem(Keys.poll_due, otn)
        _track(pipe, new)
        if new.get("callback_url"):
            self._emit(pipe, new, order_events(old, new))

    def finish_job_and_order(self, job_id: str, out_trade_no: str, job_change: Callable[[Record], Record],
                             order_change: Callable[[Record], Record], *, poll_due: float | None = None,
                             expected: Sequence[bytes | None] | None = None) -> Record | None:
        """End a job and change its order in one write, and put the trade on the poll schedule when `poll_due`
        is given: what a successful precreate does. Returns the job. `expected`: the job and the order as
        `start_job` left them, a guess that saves reading them."""
        job_key, order_key = Keys.job(job_id), Keys.order(out_trade_no)

        def txn(read: list[bytes | None], pipe: Writes) -> Record | None:
            job, order = (_load(raw) for raw in read)
            if order is not None:
                new_order = order_change(order)
                if new_order != order:
                    self._write_order(pipe, order, new_order)
                if poll_due is not None and OrderStatus(new_order["status"]).open:
                    pipe.zadd(Keys.poll_due, {out_trade_no: poll_due})
            if job is None:
                return None
            new_job = job_change(job)
            if new_job != job:
                self._write_job(pipe, new_job)
            return new_job

        return self._change([job_key, order_key], txn, guess=list(expected) if expected else None)

    def _emit(self, pipe: Writes, order: Record, types: list[EventType]) -> None:
        """Record the order's new events and put the order on the delivery schedule."""
        otn = order["out_trade_no"]
        for event_type in types:
            event = dict(new_event(event_type, order), out_trade_no=otn, callback_url=order["callback_url"],
                         delivery="pending", attempts=[])
            pipe.set(Keys.event(event["id"]), _dump(event), ex=defaults.EVENT_RETENTION_S)
            pipe.rpush(Keys.order_events(otn), event["id"])
            pipe.expire(Keys.order_events(otn), defaults.EVENT_RETENTION_S)
        if types:
            pipe.zadd(Keys.webhooks_due, {otn: time.time()}, nx=True)

    def events_of(self, out_trade_no: str) -> list[Record]:
        """The order's webhook events, oldest first, with their delivery attempts."""
        ids = _names(self.redis.lrange(Keys.order_events(out_trade_no), 0, -1))
        if not ids:
            return []
        raws = self.redis.mget([Keys.event(i) for i in ids])
        return [e for e in (_load(raw) for raw in raws) if e is not None]

    def save_event(self, event: Record) -> None:
        self.redis.set(Keys.event(event["id"]), _dump(event), ex=defaults.EVENT_RETENTION_S)

    def schedule_delivery(self, out_trade_no: str, due: float) -> None:
        self.redis.zadd(Keys.webhooks_due, {out_trade_no: due})

    def delivered_all(self, out_trade_no: str, seen: int) -> None:
        """Take the order off the delivery schedule, unless events came after the `seen` ones the delivery
        read: then it is due again at once. One script, so an event emitted meanwhile is never stranded."""
        self._finish_delivery(keys=[Keys.webhooks_due, Keys.order_events(out_trade_no)],
                              args=[out_trade_no, seen, time.time()])

    def claim_due_deliveries(self, now: float, limit: int, lease_s: float) -> list[str]:
        due = self._claim_due(keys=[Keys.webhooks_due], args=[now, limit, now + lease_s])
        return _names(due)

    def schedule_poll(self, out_trade_no: str, due: float) -> None:
        self.redis.zadd(Keys.poll_due, {out_trade_no: due})

    def unschedule_poll(self, out_trade_no: str) -> None:
        self.redis.zrem(Keys.poll_due, out_trade_no)

    def claim_due_polls(self, now: float, *, limit: int, lease_s: float, max_in_flight: int) -> list[str]:
        """Take the trades due at `now`, oldest due first, at most `limit` and at most what the in-flight budget
        has room for (`max_in_flight` minus the polls dispatched less than `lease_s` ago and not yet started).
        Each one is pushed `lease_s` ahead on the schedule (the poll sets its real next time when it ends), so no
        other tick dispatches it meanwhile, and recorded as in flight since `now`; entries older than the lease
        are dropped: a poll lost with its worker stops counting exactly when its trade is claimed again. One
        script, so two dispatchers at once share one budget."""
        due = self._claim_due_polls(keys=[Keys.poll_due, Keys.polls_in_flight],
                                    args=[repr(now), limit, repr(now + lease_s), repr(now - lease_s), max_in_flight])
        return _names(due)

    def polls_started(self, *out_trade_nos: str) -> None:
        """The trades' polls have started: they no longer wait in the broker, and free their slots."""
        self.redis.zrem(Keys.polls_in_flight, *out_trade_nos)

    def polls_in_flight(self, now: float, lease_s: float) -> int:
        """Polls dispatched less than `lease_s` before `now` and not yet started (what the budget counts)."""
        return int(self.redis.zcount(Keys.polls_in_flight, f"({now - lease_s!r}", "+inf"))

    def stale_jobs(self, older_than: float, limit: int) -> list[str]:
        """Unfinished jobs unchanged since `older_than` (Unix time): their task was lost (a worker died while
        the broker was unreachable, say). Each one returned is stamped now, so it is handed out once a period."""
        ids = _names(self.redis.zrangebyscore(Keys.active_jobs, "-inf", older_than, start=0, num=limit))
        if ids:
            self.redis.zadd(Keys.active_jobs, dict.fromkeys(ids, time.time()), xx=True)
        return ids

    def forget_active(self, job_id: str) -> None:
        self.redis.zrem(Keys.active_jobs, job_id)

    def unsettled_orders(self, older_than: float, limit: int) -> list[str]:
        """Up to `limit` unsettled orders the store has learned nothing about since `older_than` (Unix time)."""
        found = self.redis.zrangebyscore(Keys.unsettled, "-inf", older_than, start=0, num=limit)
        return _names(found)

    def mark_checked(self, out_trade_no: str) -> None:
        """Record that the gateway was asked about an unsettled order just now (it stays in the index)."""
        self.redis.zadd(Keys.unsettled, {out_trade_no: time.time()}, xx=True)

    def forget_unsettled(self, out_trade_no: str) -> None:
        """Drop an index entry whose order is no longer kept."""
        self.redis.zrem(Keys.unsettled, out_trade_no)

    def poll_scheduled(self, out_trade_no: str) -> bool:
        """Whether the poller still follows the trade (it has a next query scheduled or running)."""
        return self.redis.zscore(Keys.poll_due, out_trade_no) is not None

    def ledger_orders(self, day: str) -> list[str]:
        """The orders paid, or with a refund done, on the Beijing day `yyyy-MM-dd`, as the store knows them."""
        return sorted(_names(self.redis.smembers(Keys.ledger(day))))

    def restore_order(self, order: Record) -> bool:
        """Write an order rebuilt by reconciliation, only if no order with its out_trade_no exists; returns
        whether it was written. It joins the indexes like any other write; no webhook event is recorded."""
        key = Keys.order(order["out_trade_no"])

        def txn(read: list[bytes | None], pipe: Writes) -> bool:
            if read[0] is not None:
                return False
            pipe.set(key, _dump(order), ex=self._order_ex())
            _track(pipe, order)
            _count(pipe, None, order)
            return True

        return self._change([key], txn)

    def order_counts(self) -> dict[str, int]:
        """How many orders are in each status, from the counts kept with every order change (no scan)."""
        return {_names([k])[0]: int(v) for k, v in self.redis.hgetall(Keys.orders_by_status).items()}

    def waiting_trades(self) -> int:
        return int(self.redis.zcard(Keys.poll_due))

    # --- notifications ------------------------------------------------------------------------------------

    def notification_seen(self, notify_id: str) -> bool:
        return bool(self.redis.exists(Keys.notification(notify_id)))

    def remember_notification(self, notify_id: str) -> None:
        self.redis.set(Keys.notification(notify_id), "1", ex=defaults.NOTIFICATION_DEDUP_S)


__all__ = ["Conflict", "Keys", "OrderNotFound", "Store", "Submission", "TransitionRefused"]
