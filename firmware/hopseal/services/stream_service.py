"""The stream services a hub offers (ockam-wire §7): `stream` and `stream_index`.

In the runtime so the protocol's rules exist once (the host hub runs it over SQLite or Kafka,
host/hopseal_host/streams; runtime tests and a plain node run it over MemoryStore); a board never
imports it. The store is duck-typed: the async methods of host/hopseal_host/streams/store.py's
StreamStore (create, exists, streams, append, read, get_index, save_index, count_indexes, trim).
`limits` is duck-typed too (StreamLimits' attributes; Limits below has the same defaults).

Workers and replies:
- `PREFIX` ("stream", or "stream_kafka"): `stream_create` (a name, or None for a random one) creates
  the stream if new and answers `Init{name}` FROM the stream's own worker `PREFIX.NAME`, whose
  address is the last hop of the reply's return route: pushes and pulls go there (§7: the Init
  reply's return route becomes the client's stream route). Stream workers are started for every
  stored stream when the service starts, so routes survive a hub restart;
- `PREFIX.NAME`: `stream_push` -> `PushConfirm{id, Ok, index}` once the record is durable
  (`PushConfirm{id, Error, 0}` when the store fails: the client may retry); `stream_pull` ->
  `PullResponse{id, records with index >= index}`, at most `limit` and at most max_pull_bytes of
  data (always at least one record when there is one);
- `PREFIX_index`: `Index::Get` -> `Index{client, stream, index or None}`; `Index::Save` stores it
  and answers nothing (as ockam's hub; the client does not wait).
Refusals: malformed BARE, an unknown protocol id, a push over max_message, a pull limit of 0 or over
max_pull, an unknown stream, a stream name outside [A-Za-z0-9._-] (Kafka's topic rule) or too
long, more than max_streams streams, and an index that belongs to another client get the
`error{reason}` reply (one line), are counted in node.counters (`stream_refused`), and change
nothing; the service keeps serving. Replies go to the request's return route; a request without
one is dropped and counted.
Index ownership: a request that comes through a secure channel names its indexes inside its peer's
namespace (stored as `IDENTIFIER/client_id`); a plain request uses client_id as given. A client id
containing "/" is refused, so no one can name an index of another identity.
Retention: once a stream holds more than max_stream_bytes the oldest records are dropped (the
store's trim, checked every TRIM_EVERY pushes and at start); indexes of records already dropped
lead to the oldest one retained.
"""
from ..compat import get_logger, hexstr, printable, random_bytes
from ..errors import DecodeError, HopsealError
from ..wire import stream as sp

log = get_logger("streams")

DEFAULT_PREFIX = "stream"
KAFKA_PREFIX = "stream_kafka"
TRIM_EVERY = 32
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


class Refused(Exception):
    """A request answered with the protocol's `error` reply; `reason` is one line."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Limits:
    """The defaults of host/hopseal_host/streams/store.py StreamLimits, for nodes without it."""

    max_streams = 1000
    max_message = 16 * 1024
    max_stream_bytes = 64 * 1024 * 1024
    max_pull = 1000
    max_pull_bytes = 64 * 1024
    max_name = 200
    max_indexes = 100000


class MemoryStore:
    """A StreamStore in RAM (nothing survives the process): tests, and plain nodes that offer
    the service without a host. Same contract as the host's engines (tests/host/test_stream_store.py)."""

    name = "memory"
    where = "memory"

    def __init__(self):
        self.logs = {}  # name -> [first index, records list]
        self.indexes = {}

    async def open(self):
        pass

    async def close(self):
        pass

    def _log(self, stream):
        log_ = self.logs.get(stream)
        if log_ is None:
            raise Refused("unknown stream %r" % stream)
        return log_

    async def create(self, stream):
        if stream in self.logs:
            return False
        self.logs[stream] = [0, []]
        return True

    async def exists(self, stream):
        return stream in self.logs

    async def streams(self):
        out = []
        for name in sorted(self.logs):
            first, recs = self.logs[name]
            out.append({"name": name, "next_index": first + len(recs), "records": len(recs),
                        "bytes": sum(len(r) for r in recs)})
        return out

    async def append(self, stream, data):
        first, recs = self._log(stream)
        recs.append(bytes(data))
        return first + len(recs) - 1

    async def read(self, stream, index, limit):
        first, recs = self._log(stream)
        i = max(index - first, 0)
        return [(first + j, recs[j]) for j in range(i, min(i + max(limit, 0), len(recs)))]

    async def get_index(self, client_id, stream):
        return self.indexes.get((client_id, stream))

    async def save_index(self, client_id, stream, index):
        self.indexes[(client_id, stream)] = index

    async def count_indexes(self):
        return len(self.indexes)

    async def trim(self, stream, keep_bytes):
        entry = self._log(stream)
        recs = entry[1]
        total = sum(len(r) for r in recs)
        n = 0
        while recs and total > keep_bytes:
            total -= len(recs.pop(0))
            n += 1
        entry[0] += n
        return n


def check_name(name, limits, what="stream name"):
    if not name:
        raise Refused("empty %s" % what)
    if len(name.encode()) > limits.max_name:
        raise Refused("%s longer than %d bytes" % (what, limits.max_name))
    for c in name:
        if c not in _NAME_CHARS:
            raise Refused("%s %s: only letters, digits, '.', '_' and '-'" % (what, printable(name, 40)))


class StreamService:
    """`PREFIX`, `PREFIX.NAME` per stream and `PREFIX_index` on `node`, over `store`."""

    def __init__(self, node, store, limits=None, prefix=DEFAULT_PREFIX, access=None):
        self.node = node
        self.store = store
        self.limits = limits or Limits()
        self.prefix = prefix
        self.access = access
        self.index_address = prefix + "_index"
        self.pushes = 0
        self.pulls = 0
        self.refused = 0
        self._since_trim = {}
        self._streams = {}  # name -> its worker

    async def start(self):
        """Start the workers (one per stored stream) and apply retention once."""
        self.node.start_worker(self.prefix, _CreateWorker(self), access=self.access)
        self.node.start_worker(self.index_address, _IndexWorker(self), access=self.access)
        for s in await self.store.streams():
            self._start_stream(s["name"])
            await self._trim(s["name"])
        log.info("stream services %r and %r over %s (%d streams)", self.prefix, self.index_address,
                 getattr(self.store, "where", self.store.name), len(self._streams))

    def stop(self):
        for name in list(self._streams):
            self.node.stop_worker(self.stream_address(name))
        self._streams = {}
        self.node.stop_worker(self.prefix)
        self.node.stop_worker(self.index_address)

    def stream_address(self, name):
        return "%s.%s" % (self.prefix, name)

    def _start_stream(self, name):
        if name not in self._streams:
            w = _StreamWorker(self, name)
            self.node.start_worker(self.stream_address(name), w, access=self.access)
            self._streams[name] = w

    async def _trim(self, name):
        keep = self.limits.max_stream_bytes
        self._since_trim[name] = 0
        if keep:
            n = await self.store.trim(name, keep)
            if n:
                self.node.count("stream_trimmed", n)
                log.info("stream %s: retention dropped %d oldest record(s)", name, n)

    # -- the requests --------------------------------------------------------------------------
    async def serve(self, msg, me, handler):
        """Decode the envelope, run `handler(protocol, body, msg)`, send its reply from `me`;
        anything refused gets the `error` reply. Never raises for bad input."""
        node = self.node
        if not msg.return_:
            node.count("stream_no_return_route")
            return
        try:
            try:
                protocol, body = sp.decode_payload(msg.payload)
            except DecodeError as e:
                raise Refused("malformed request: %s" % e)
            reply = await handler(protocol, body, msg)
        except Refused as e:
            reply = self._refusal(e.reason, msg)
        except DecodeError as e:
            reply = self._refusal("malformed request: %s" % e, msg)
        except HopsealError as e:
            reply = self._refusal("%s" % e, msg)
        except Exception as e:  # the engine failed (its StreamError, or I/O): one line, keep serving
            node.count("stream_store_errors")
            reply = self._refusal("store: %s" % _reason(e), msg)
        if reply is not None:
            await node.send(msg.return_, reply, [me])

    def _refusal(self, reason, msg):
        self.refused += 1
        self.node.count("stream_refused")
        log.every("stream_refused", 10, "stream request refused: %s", reason)
        return sp.error(reason)

    async def create(self, protocol, body, msg):
        if protocol != sp.CREATE:
            raise Refused("%s expects %s, not %s" % (self.prefix, sp.CREATE, printable(protocol, 40)))
        name = sp.decode_create(body)
        if name is None:
            name = hexstr(random_bytes(8))
        check_name(name, self.limits)
        if not await self.store.exists(name):
            if len(self._streams) >= self.limits.max_streams and name not in self._streams:
                raise Refused("the hub holds %d streams, its limit" % self.limits.max_streams)
            try:
                if await self.store.create(name):
                    log.info("stream %s created", name)
            except Exception as e:  # the engine's StreamError: its reason is one line
                raise Refused(_reason(e))
        self._start_stream(name)
        return sp.init(name), self.stream_address(name)

    async def on_stream(self, name, protocol, body, msg):
        limits = self.limits
        if protocol == sp.PUSH:
            try:
                rid, data = sp.decode_push(body, limits.max_message)
            except DecodeError as e:
                if "over limit" in str(e):
                    raise Refused("push of more than %d bytes refused (max_message)" % limits.max_message)
                raise
            try:
                index = await self.store.append(name, data)
            except Exception as e:  # an engine failure: the client may retry this request
                self.node.count("stream_store_errors")
                log.every("stream_store_errors", 10, "stream %s: append failed: %s", name, _reason(e))
                return sp.push_confirm(rid, False, 0)
            self.pushes += 1
            n = self._since_trim.get(name, 0) + 1
            self._since_trim[name] = n
            if n >= TRIM_EVERY:
                await self._trim(name)
            return sp.push_confirm(rid, True, index)
        if protocol == sp.PULL:
            rid, index, limit = sp.decode_pull(body)
            if limit == 0 or limit > limits.max_pull:
                raise Refused("pull limit %d: ask for 1 to %d records" % (limit, limits.max_pull))
            try:
                records = await self.store.read(name, index, limit)
            except Exception as e:
                raise Refused(_reason(e))
            out = []
            size = 0
            for r in records:
                size += len(r[1]) + 12
                if out and size > limits.max_pull_bytes:
                    break
                out.append(r)
            self.pulls += 1
            return sp.pull_response(rid, out)
        raise Refused("stream %s takes %s or %s, not %s" % (name, sp.PUSH, sp.PULL, printable(protocol, 40)))

    async def index(self, protocol, body, msg):
        if protocol != sp.INDEX:
            raise Refused("%s expects %s, not %s" % (self.index_address, sp.INDEX, printable(protocol, 40)))
        kind, client, stream, index = sp.decode_index_request(body)
        check_name(stream, self.limits)
        if "/" in client or not client or len(client.encode()) > self.limits.max_name:
            raise Refused("client id %s is not yours to use (no '/', 1 to %d bytes)"
                          % (printable(client, 40), self.limits.max_name))
        key = _client_key(msg, client)
        if not await self.store.exists(stream):
            raise Refused("unknown stream %s" % stream)
        if kind == sp.GET:
            return sp.index_reply(client, stream, await self.store.get_index(key, stream))
        if index >= 1 << 63:
            raise Refused("index %d out of range" % index)
        if self.limits.max_indexes:
            n = await self.store.count_indexes()
            if n is not None and n >= self.limits.max_indexes and await self.store.get_index(key, stream) is None:
                raise Refused("the hub keeps %d consumer indexes, its limit" % self.limits.max_indexes)
        await self.store.save_index(key, stream, index)
        return None


def _reason(e):
    return getattr(e, "reason", None) or str(e) or type(e).__name__


def _client_key(msg, client):
    """The stored client id: inside the channel peer's namespace when the request came through one."""
    origin = msg.origin
    if origin is not None and getattr(origin, "is_secure_channel", False) and origin.peer_identifier:
        return origin.peer() + "/" + client
    return client


class _CreateWorker:
    def __init__(self, svc):
        self.svc = svc

    async def handle_message(self, node, msg):
        svc = self.svc
        if not msg.return_:
            node.count("stream_no_return_route")
            return
        # the Init reply comes from the stream's own worker (see the module text)
        try:
            protocol, body = sp.decode_payload(msg.payload)
            reply, addr = await svc.create(protocol, body, msg)
        except Refused as e:
            reply, addr = svc._refusal(e.reason, msg), svc.prefix
        except HopsealError as e:
            reply, addr = svc._refusal("malformed request: %s" % e, msg), svc.prefix
        except Exception as e:  # the engine failed
            node.count("stream_store_errors")
            reply, addr = svc._refusal("store: %s" % _reason(e), msg), svc.prefix
        await node.send(msg.return_, reply, [addr])


class _StreamWorker:
    def __init__(self, svc, name):
        self.svc = svc
        self.name = name
        self.address = svc.stream_address(name)

    async def handle_message(self, node, msg):
        name = self.name
        svc = self.svc

        async def handler(protocol, body, m):
            return await svc.on_stream(name, protocol, body, m)

        await svc.serve(msg, self.address, handler)


class _IndexWorker:
    def __init__(self, svc):
        self.svc = svc

    async def handle_message(self, node, msg):
        await self.svc.serve(msg, self.svc.index_address, self.svc.index)
