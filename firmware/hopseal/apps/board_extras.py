"""Board features a board file may turn on, kept out of apps/board.py so that a board which does
not use them carries none of their code: TCP outlets (board file key `outlets`, issue 10) and the
heap report (`heap_report`)."""
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


def start_outlets(board, cfg):
    """TCP outlets (services/portal.py); with a vault reachable only through a secure channel. A
    Payload must fit the link: chunk = portal_chunk, or a quarter of the message limit (each chunk
    is copied a few times on its way: small pieces fit a fragmented heap)."""
    from ..services import portal

    chunk = cfg.get("portal_chunk") or (cfg.get("max_message") or cfg["max_body"] * 4) // 4
    access = None
    if cfg.get("vault") is not None:
        from ..secure.trust import channel_only

        access = channel_only(cfg.get("authorized"))
    for text in cfg["outlets"]:
        addr, host, port = parse_outlet(text)
        portal.Outlet(board.node, host, port, address=addr, chunk=chunk, max_connections=4).start(access)
        say("tcp outlet %s -> %s:%d (chunk %d)" % (addr, host, port, chunk))


async def heap_loop(board, every):
    """Every `every` s: heap used and free after a collection, the most used so far, and the
    node's memory errors (tests and soak runs read it)."""
    import gc

    most = 0
    while True:
        await asyncio.sleep(every)
        gc.collect()
        used = gc.mem_alloc()
        if used > most:
            most = used
        say("heap used %d free %d, most used %d, memory errors %d"
            % (used, gc.mem_free(), most, board.node.counters.get("memory_errors", 0)))
