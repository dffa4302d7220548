"""A board's readings through a secure channel over a pair of streams (issue 11; Ockam's Alice).

Imported only when the board file has `stream_to` and `stream_from`. The board writes
`stream_to` and reads `stream_from` at the hub's `stream` service (services/stream.py), both
through the gateway's hub connection as it is at each request (a link restart changes nothing
here: the producer pushes again, the consumer pulls again). Over the pair it opens a secure
channel to the application's `stream_listener` (default "listener"), accepting only
`stream_peer` when given, and sends each reading to the application's `readings` through it.
The application may be offline: readings wait in the hub's store, encrypted. The board does not
wait for the application: a reading is done once the hub has confirmed the push (the producer
retries until then, and a full queue holds the readings loop back: no reading is dropped
unless it waits more than 10 s for room).
The channel lives as long as the board runs: a board that restarts opens a new one, and what
the application had not yet read of the old channel's replies (none in this one-way use) is lost.
"""
from ..compat import say, ticks_diff, ticks_ms
from ..services.stream import StreamPair


class BoardStreams:
    def __init__(self, board):
        cfg = board.cfg
        self.board = board
        self.cfg = cfg
        service = cfg.get("stream_service") or "stream"
        self.pair = StreamPair(board.node, lambda: board.link.route_to("hub"), cfg["stream_to"], cfg["stream_from"],
                               cfg.get("stream_client") or cfg["name"], service, service + "_index",
                               interval=cfg.get("stream_interval") or 0.25, max_queue=16)
        self.channel = None
        self.started = False

    async def channel_up(self, timeout=60):
        if self.channel is not None and not self.channel.closed:
            return self.channel
        if not self.started:
            self.pair.start()
            self.started = True
        from ..secure.channel import create_secure_channel
        from ..secure.trust import TrustIdentifiers

        peer = self.cfg.get("stream_peer")
        t0 = ticks_ms()
        ch = await create_secure_channel(self.board.node, self.board.vault,
                                         [self.pair.address, self.cfg.get("stream_listener") or "listener"],
                                         cache=self.board.cache, timeout=timeout,
                                         trust=TrustIdentifiers([peer]) if peer else None)
        self.channel = ch
        say("secure channel to %s up over streams %s/%s in %d ms" % (ch.peer(), self.cfg["stream_to"],
                                                                    self.cfg["stream_from"], ticks_diff(ticks_ms(), t0)))
        return ch

    async def send(self, n, text):
        ch = await self.channel_up()
        await self.board.node.send([ch.encryptor_address, "readings"], text.encode(), [])
        p = self.pair.producer
        say("reading %d queued for stream %s (%d pushed, %d waiting)" % (n, self.cfg["stream_to"], p.pushed, len(p.queue)))
