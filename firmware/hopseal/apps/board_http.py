"""The board's HTTP status page (issue 10): name, identifier, uptime, heap, link, the last readings.

It is served only through a TCP outlet (services/portal.py) and never on a network interface:
the board file key `status_page` ("ADDR", e.g. "status") starts an outlet at ADDR whose target is
this module, in process. Each portal connection gets a `StatusConnection`, a reader/writer pair
in memory: the outlet writes the client's bytes into it and reads the response out of it, so a
board without a socket module (a Pico without Wi-Fi) serves the page as well as a Wi-Fi board,
and nothing on the board listens on any port. An inlet anywhere on the route's far side
(`hopseal tcp-inlet create --to .../service/forward_to_NAME/secure/api/service/status`) makes
it an ordinary web page for a browser or curl.

HTTP: one request per connection (GET or HEAD of / or /status), answered with HTTP/1.1, a
Content-Length and Connection: close, then the connection ends (the outlet sends Disconnect).
Rules upheld here (h11's habits, on a board's budget):
- the request head (request line and headers) is at most MAX_HEAD bytes; more is refused with
  431 and nothing past the limit is kept: memory per connection is one head and one response;
- a head that does not parse (no request line of three parts, a version other than HTTP/1.x,
  bytes outside printable ASCII, a header line without ':') gets 400; another method 405; another
  path 404; whatever follows the head (a body, a second request) is ignored;
- a head not complete within `timeout` s (a slow client, slow loris) closes the connection without
  an answer; every refusal is counted on the node (`http_bad_request`, `http_timeout`) and logged
  at most one line per 10 s, so garbage cannot flood the console.
An optional module: apps/board.py imports it only when the board file has `status_page`.
"""
import asyncio

from ..compat import const, get_logger, ticks_diff, ticks_ms

log = get_logger("http")

MAX_HEAD = const(1024)
REQUEST_TIMEOUT = 10  # s for the whole request head

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 431: "Request Header Fields Too Large"}


def response(status, body=b"", head_only=False, extra=""):
    """The bytes of an HTTP/1.1 response with Content-Length and Connection: close."""
    head = ("HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n%s"
            "Connection: close\r\nCache-Control: no-store\r\nServer: hopseal\r\n\r\n"
            % (status, _REASONS[status], len(body), extra)).encode()
    return head if head_only else head + body


def parse_head(head):
    """(method, path) of a complete request head (bytes, the blank line excluded), or (status,
    why) when it is refused: an int status and a reason for the log."""
    lines = bytes(head).replace(b"\r\n", b"\n").split(b"\n")
    for c in head:
        if (c < 32 or c > 126) and c not in (9, 10, 13):
            return 400, "bytes outside printable ASCII"
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        return 400, "no request line"
    method, path, version = parts
    if version not in (b"HTTP/1.0", b"HTTP/1.1"):
        return 400, "not HTTP/1.x"
    for ln in lines[1:]:
        if ln and b":" not in ln:
            return 400, "a header line without ':'"
    return method.decode(), path.decode()


class StatusConnection:
    """One connection to the page: the outlet's reader and writer at once, in memory.

    write() takes the client's bytes (the request) and drain() never waits; read() waits for the
    complete request head (at most `timeout` s) and then returns the response, then b"" (EOF)."""

    out_buf = b""  # services/portal.py's _must_wait: nothing is ever kept unsent

    def __init__(self, page, timeout=REQUEST_TIMEOUT):
        self.page = page
        self.timeout = timeout
        self.head = bytearray()
        self.resp = None
        self.pos = 0
        self.ready = asyncio.Event()
        self.closed = False

    def write(self, data):
        if self.resp is not None or self.closed:
            return  # what follows the head (a body, a second request) is ignored
        head = self.head
        start = len(head) - 3 if len(head) > 3 else 0
        room = MAX_HEAD + 4 - len(head)
        head += data[:room]
        end = head.find(b"\r\n\r\n", start)
        if end < 0:
            end = head.find(b"\n\n", start)
        if end >= 0 and end <= MAX_HEAD:
            self._answer(head[:end])
        elif len(head) > MAX_HEAD:
            self._refuse(431, "a request head over %d bytes" % MAX_HEAD)

    def _answer(self, head):
        r = parse_head(head)
        if isinstance(r[0], int):
            return self._refuse(r[0], r[1])
        method, path = r
        if method not in ("GET", "HEAD"):
            return self._refuse(405, "method %s" % method[:16], "Allow: GET, HEAD\r\n")
        if path not in ("/", "/status"):
            self.page.node.count("http_not_found")
            return self._done(response(404, b"not found: try /\n", method == "HEAD"))
        self.page.node.count("http_requests")
        self._done(response(200, self.page.text().encode(), method == "HEAD"))

    def _refuse(self, status, why, extra=""):
        self.page.node.count("http_bad_request")
        log.every("http_bad_request", 10, "status page: %d for %s", status, why)
        self._done(response(status, ("%s\n" % _REASONS[status]).encode(), False, extra))

    def _done(self, resp):
        self.head = None  # the head's memory goes at once
        self.resp = resp
        self.ready.set()

    async def drain(self):
        pass

    async def read(self, n):
        if self.resp is None and not self.closed:
            try:
                await asyncio.wait_for(self.ready.wait(), self.timeout)
            except asyncio.TimeoutError:
                self.page.node.count("http_timeout")
                log.every("http_timeout", 10, "status page: no complete request within %s s; closing", self.timeout)
                self.closed = True
        r = self.resp
        if r is None or self.closed or self.pos >= len(r):
            return b""
        out = r[self.pos:self.pos + n]
        self.pos += len(out)
        return out

    def close(self):
        self.closed = True
        self.head = None
        self.resp = None
        self.ready.set()

    async def wait_closed(self):
        pass


class StatusPage:
    """The page of one board (apps/board.py's Board), served by an outlet at `address`."""

    def __init__(self, board, address="status", timeout=REQUEST_TIMEOUT):
        from ..services import portal

        self.board = board
        self.node = board.node
        self.timeout = timeout
        self.started = ticks_ms()
        self.ms = 0  # uptime: ticks wrap (MicroPython: 2**30 ms), so they are added up as they go
        cfg = board.cfg
        access = None
        if cfg.get("vault") is not None:
            from ..secure.trust import channel_only

            access = channel_only(cfg.get("authorized"))
        self.outlet = portal.Outlet(self.node, "the status page", 0, address=address, chunk=256, max_connections=2,
                                    connect=self.connect).start(access)

    async def connect(self):
        c = StatusConnection(self, self.timeout)
        return c, c

    def uptime(self):
        now = ticks_ms()
        self.ms += ticks_diff(now, self.started)
        self.started = now
        return self.ms // 1000

    async def keep_time(self):
        """Add up the uptime at least every hour: a ticks difference is right for under 6 days."""
        while True:
            await asyncio.sleep(3600)
            self.uptime()

    def text(self):
        b = self.board
        cfg = b.cfg
        heap = "n/a"
        try:
            import gc

            gc.collect()
            heap = "used %d free %d" % (gc.mem_alloc(), gc.mem_free())
        except (ImportError, AttributeError):
            pass
        ident = b.vault.identifier_text() if b.vault is not None else "none (no vault)"
        ch = b.channel
        lines = [
            "hopseal board status",
            "name: %s" % cfg["name"],
            "identifier: %s" % ident,
            "uptime: %d s" % self.uptime(),
            "heap: %s" % heap,
            "link: %s (%s), up %d times" % ("up" if b.link.up else "down", cfg["link"]["type"], b.ups),
            "relay: %s" % ("forward_to_%s" % cfg["relay"] if cfg.get("relay") else "none"),
            "secure channel to the hub: %s" % ("up" if ch is not None and not ch.closed else "none"),
            "readings sent: %d" % b.readings_sent,
            "last readings:",
        ]
        lines += ["  " + t for t in b.last_readings] or ["  none"]
        c = self.node.counters
        lines.append("counters: " + (" ".join("%s=%d" % (k, c[k]) for k in sorted(c)) or "none"))
        return "\n".join(lines) + "\n"


def start_status_page(board, cfg):
    page = StatusPage(board, cfg["status_page"])
    from ..compat import say

    say("status page at outlet %s (in process, no TCP port)" % cfg["status_page"])
    return page
