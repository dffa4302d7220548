"""Board features a board file may turn on, kept out of apps/board.py so that a board which does
not use them carries none of their code: TCP outlets and inlets (board file keys `outlets` and
`inlets`, issue 10) and the heap report (`heap_report`)."""
import asyncio

from ..compat import say
from ..errors import ConfigError


def parse_outlet(text):
    """(address, host, port) of an outlet "[ADDR=]HOST:PORT"."""
    addr, sep, hp = text.rpartition("=")
    host, _, port = hp.rpartition(":")
    if (sep and not addr) or not host or not port.isdigit():
        raise ConfigError("bad outlet %r (expected [ADDR=]HOST:PORT)" % text)
    return (addr if sep else "outlet"), host, int(port)


# A board portal's default chunk. What a board sends is built in a few buffers of about the
# chunk plus its headers (the Payload, one per secure channel, the routing message the reliable
# link keeps until it is acknowledged), each of which needs one free piece of the heap; once the
# channels are up, the 240K ESP32 (64-bit virtual board) has 60-70 KB free but its largest piece
# is often under 1 KB. Measured there: 1 KiB chunks find no piece; 512 get through with the viper
# kernels but not always on the pure-Python crypto (when the kernels do not fit) over a damaged
# line; 256 on both. A 32-bit board's pieces hold about twice as much. What a board receives
# needs no such piece (the reliable link's buffer, decrypted in place), so a host inlet may send
# it larger chunks, up to max_message.
PORTAL_CHUNK = 256


def default_chunk(cfg):
    """portal_chunk, or PORTAL_CHUNK, or less when a quarter of the message limit is less (a
    Payload must fit the link: max_body on a version-1 link)."""
    q = (cfg.get("max_message") or cfg["max_body"] * 4) // 4
    return cfg.get("portal_chunk") or (q if q < PORTAL_CHUNK else PORTAL_CHUNK)


def start_outlets(board, cfg):
    """TCP outlets (services/portal.py); with a vault reachable only through a secure channel.
    Payloads of default_chunk(cfg) bytes."""
    from ..services import portal

    chunk = default_chunk(cfg)
    access = None
    if cfg.get("vault") is not None:
        from ..secure.trust import channel_only

        access = channel_only(cfg.get("authorized"))
    for text in cfg["outlets"]:
        addr, host, port = parse_outlet(text)
        portal.Outlet(board.node, host, port, address=addr, chunk=chunk, max_connections=4).start(access)
        say("tcp outlet %s -> %s:%d (chunk %d)" % (addr, host, port, chunk))


def parse_inlet(text):
    """(host, port, hops) of an inlet "[HOST:]PORT=ROUTE" (HOST defaults to 127.0.0.1: only the
    board itself connects). ROUTE starts after the board's link to the gateway: /service/NAME is
    a hop, /secure/NAME opens a secure channel to the listener NAME along everything before it,
    e.g. /service/hub/service/forward_to_web/secure/api/service/outlet. hops: [(kind, name)]."""
    hp, sep, rt = text.partition("=")
    host, _, port = hp.rpartition(":")
    bad = ConfigError("bad inlet %r (expected [HOST:]PORT=ROUTE, e.g. 8080=/service/hub/service/"
                      "forward_to_web/secure/api/service/outlet)" % text)
    if not sep or not port.isdigit() or int(port) > 65535:
        raise bad
    parts = rt.split("/")
    if len(parts) < 3 or parts[0] or len(parts) % 2 == 0:
        raise bad
    hops = []
    for i in range(1, len(parts), 2):
        kind, name = parts[i], parts[i + 1]
        if kind not in ("service", "secure") or not name:
            raise bad
        hops.append((kind, name))
    if hops[-1][0] == "secure":
        raise ConfigError("inlet %r: a route ends at the outlet, after its secure channel (add /service/outlet)" % text)
    return host or "127.0.0.1", int(port), hops


def inlet_route(board, hops, timeout=10):
    """The inlet's `to`: an async function opening the route's secure channels (with the board's
    identity; peers from `authorized` only, if given) on first use, and again once a channel is
    gone or the link has restarted since (its route went through the old link)."""
    held = [None, -1]
    lock = asyncio.Lock()

    async def to():
        async with lock:
            r = held[0]
            if r is None or held[1] != board.ups or (_opens_channel(hops) and not board.node.has_worker(r[0])):
                r = await _open(board, hops, timeout)
                held[0] = r
                held[1] = board.ups
            return r

    return to


def _opens_channel(hops):
    for kind, _ in hops:
        if kind == "secure":
            return True
    return False


async def _open(board, hops, timeout):
    r = None  # the route so far once a channel starts it (before that, the link does)
    plain = []
    for kind, name in hops:
        if kind == "service":
            plain.append(name)
            continue
        if board.vault is None:
            raise ConfigError("an inlet route with /secure needs the board's identity (a vault)")
        from ..secure.channel import create_secure_channel
        from ..secure.trust import TrustIdentifiers

        auth = board.cfg.get("authorized")
        to = (board.link.route_to(*plain) if r is None else r + plain) + [name]
        ch = await create_secure_channel(board.node, board.vault, to, cache=board.cache, timeout=timeout,
                                         trust=TrustIdentifiers(auth) if auth else None)
        r = [ch.encryptor_address]
        plain = []
    return board.link.route_to(*plain) if r is None else r + plain


async def start_inlets(board, cfg):
    """TCP inlets on a board with a TCP stack (Wi-Fi, the unix port): each client accepted on
    HOST:PORT becomes a portal connection to the outlet at the end of ROUTE."""
    from ..services import portal

    chunk = default_chunk(cfg)
    for text in cfg["inlets"]:
        host, port, hops = parse_inlet(text)
        inlet = portal.Inlet(board.node, inlet_route(board, hops), chunk=chunk, max_connections=4)
        try:
            await inlet.listen(host, port)
        except OSError as e:  # the port is taken, or no such interface: the board goes on without it
            say("tcp inlet on %s:%d not started: %s" % (host, port, e))
            continue
        say("tcp inlet listening on %s:%d (chunk %d)" % (host, port, chunk))


def memory_errors(board):
    """Allocations that failed and cost something: the node's (a connection or portal closed, a
    message dropped), a secure channel's (closed), the reliable link's (a message lost)."""
    c = board.node.counters
    n = c.get("memory_errors", 0) + c.get("channel_memory_errors", 0)
    link = getattr(getattr(board.link, "conn", None), "link", None)
    arq = getattr(link, "arq", None)
    return n + (arq.rx_no_memory if arq is not None else 0)


async def heap_loop(board, every):
    """Every `every` s: heap used and free after a collection, the most used so far, and the
    memory errors (tests and soak runs read it)."""
    import gc

    most = 0
    while True:
        await asyncio.sleep(every)
        gc.collect()
        used = gc.mem_alloc()
        if used > most:
            most = used
        say("heap used %d free %d, most used %d, memory errors %d"
            % (used, gc.mem_free(), most, memory_errors(board)))
