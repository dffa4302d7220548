"""The board's HTTP status page (apps/board_http.py, issue 10), both runtimes: the request handler
fed whole, one byte at a time and with trailing bytes; every kind of bad request; and the page
through a real inlet (a loopback socket) and the in-process outlet."""
import asyncio

from hopseal.apps import board_http
from hopseal.node import Node
from hopseal.services import portal
from rt import closed_by_peer, quiet, random_port, run


class Link:
    up = True


class BoardState:
    """What the page reads of apps/board.py's Board (the real Board needs a serial line)."""

    def __init__(self, node):
        self.node = node
        self.cfg = {"name": "b1", "link": {"type": "pty"}, "relay": "b1", "vault": None}
        self.vault = None
        self.channel = None
        self.link = Link()
        self.ups = 1
        self.readings_sent = 2
        self.last_readings = ["reading 1 from b1: temperature=20.1C", "reading 2 from b1: temperature=20.2C"]


def split_response(resp):
    """(status, headers dict, body) of an HTTP response; checks Content-Length against the body."""
    resp = bytes(resp)
    head, sep, body = resp.partition(b"\r\n\r\n")
    assert sep, resp
    lines = head.decode().split("\r\n")
    parts = lines[0].split(" ", 2)
    assert parts[0] == "HTTP/1.1", lines[0]
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(": ")
        headers[k.lower()] = v
    assert headers["connection"] == "close"
    return int(parts[1]), headers, body


async def exchange(page, chunks, timeout=2):
    """Write `chunks` into a StatusConnection, then read it to EOF: the response bytes."""
    c = board_http.StatusConnection(page, timeout)
    for ch in chunks:
        c.write(ch)
    out = b""
    while True:
        d = await c.read(100)
        if not d:
            return out
        out += d


def make_page(node):
    return board_http.StatusPage(BoardState(node), "status", timeout=2)


GET = b"GET / HTTP/1.1\r\nHost: board\r\nUser-Agent: test\r\n\r\n"


def test_get_whole_one_byte_at_a_time_and_with_trailing_bytes():
    quiet()

    async def main():
        node = Node("b1")
        page = make_page(node)
        for chunks in ([GET], [GET[i:i + 1] for i in range(len(GET))], [GET + b"POST / junk\r\n\r\n" + b"x" * 3000],
                       [b"GET /status HTTP/1.0\n\n"], [memoryview(GET)]):
            status, headers, body = split_response(await exchange(page, chunks))
            assert status == 200, (chunks, status)
            assert int(headers["content-length"]) == len(body)
            text = body.decode()
            assert "name: b1" in text and "identifier: none (no vault)" in text, text
            assert "reading 2 from b1: temperature=20.2C" in text and "link: up (pty), up 1 times" in text
            heap = [ln for ln in text.split("\n") if ln.startswith("heap: ")][0]
            if heap != "heap: n/a":  # MicroPython: numbers after a collection
                used, free = heap.split()[2], heap.split()[4]
                assert int(used) > 0 and int(free) > 0, heap
        assert node.counters["http_requests"] == 5
        status, headers, body = split_response(await exchange(page, [b"HEAD / HTTP/1.1\r\n\r\n"]))
        assert status == 200 and body == b"" and int(headers["content-length"]) > 100
        await node.stop()

    run(main())


def test_bad_requests_get_an_answer_and_are_counted():
    quiet()

    async def main():
        node = Node("b1")
        page = make_page(node)
        cases = [
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),  # a TLS ClientHello's start
            (b"hello\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400),
            (b"GET /\xc3\xa9 HTTP/1.1\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 405),
            (b"GET /secret HTTP/1.1\r\n\r\n", 404),
        ]
        for req, want in cases:
            for chunks in ([req], [req[i:i + 1] for i in range(len(req))]):
                status, headers, body = split_response(await exchange(page, chunks))
                assert status == want, (req, status)
                assert int(headers["content-length"]) == len(body)
                if want == 405:
                    assert headers["allow"] == "GET, HEAD"
        assert node.counters["http_bad_request"] == 12 and node.counters["http_not_found"] == 2
        await node.stop()

    run(main())


def test_huge_heads_are_refused_without_keeping_them():
    quiet()

    async def main():
        node = Node("b1")
        page = make_page(node)
        c = board_http.StatusConnection(page, 2)
        c.write(b"GET / HTTP/1.1\r\n")
        for _ in range(100):  # 100 x 1 KB of header: the head stops growing at the limit
            c.write(b"X-Filler: " + b"a" * 1000 + b"\r\n")
            assert c.head is None or len(c.head) <= board_http.MAX_HEAD + 4
        status, _, _ = split_response(await c.read(4096))
        assert status == 431 and c.head is None
        assert await c.read(100) == b""
        # a blank line just past the limit is no help
        status, _, _ = split_response(await exchange(page, [b"GET / HTTP/1.1\r\nX: " + b"a" * 1100 + b"\r\n\r\n"]))
        assert status == 431
        assert node.counters["http_bad_request"] == 2
        await node.stop()

    run(main())


def test_slow_or_silent_client_is_closed_without_an_answer():
    quiet()

    async def main():
        node = Node("b1")
        page = board_http.StatusPage(BoardState(node), "status", timeout=0.3)
        assert await exchange(page, [b"GET / HTTP/1.1\r\nHost: b"], timeout=0.3) == b""
        assert await exchange(page, [], timeout=0.3) == b""
        assert node.counters["http_timeout"] == 2 and not node.counters.get("http_requests")
        await node.stop()

    run(main())


async def inlet_to(node, to):
    for _ in range(20):
        try:
            return await portal.Inlet(node, to, pong_timeout=3).listen("127.0.0.1", random_port())
        except OSError:
            continue
    raise OSError("no free port")


async def read_all(r, timeout=5):
    out = b""
    while True:
        d = await asyncio.wait_for(r.read(1024), timeout)
        if not d:
            return out
        out += d


def test_page_through_a_real_inlet_and_the_in_process_outlet():
    quiet()

    async def main():
        node = Node("b1")
        page = board_http.StatusPage(BoardState(node), "status", timeout=0.5)
        inlet = await inlet_to(node, ["status"])
        r, w = await asyncio.open_connection("127.0.0.1", inlet.port)
        w.write(GET)
        await w.drain()
        status, headers, body = split_response(await read_all(r))
        assert status == 200 and b"hopseal board status\nname: b1\n" in body
        w.close()
        await w.wait_closed()
        # garbage, and a client that sends half a request and waits: each closed, nothing left open
        r, w = await asyncio.open_connection("127.0.0.1", inlet.port)
        w.write(b"\x00\xff" * 600)
        await w.drain()
        assert split_response(await read_all(r))[0] == 431
        w.close()
        await w.wait_closed()
        r, w = await asyncio.open_connection("127.0.0.1", inlet.port)
        w.write(b"GET / HTTP/1.1\r\n")
        await w.drain()
        assert await closed_by_peer(r, 3)
        w.close()
        await w.wait_closed()
        for _ in range(100):
            if not page.outlet.ends and not inlet.ends:
                break
            await asyncio.sleep(0.02)
        assert not page.outlet.ends and not inlet.ends
        assert node.counters["http_timeout"] == 1 and node.counters["http_bad_request"] == 1
        assert not node.counters.get("portal_rejected")
        await node.stop()

    run(main())


def test_board_inlet_arguments():
    from hopseal.apps.board_extras import parse_inlet
    from hopseal.errors import ConfigError
    from rt import raises

    assert parse_inlet("8080=/service/hub/service/forward_to_web/secure/api/service/outlet") == (
        "127.0.0.1", 8080, [("service", "hub"), ("service", "forward_to_web"), ("secure", "api"), ("service", "outlet")])
    assert parse_inlet("0.0.0.0:81=/service/hub/service/outlet") == ("0.0.0.0", 81, [("service", "hub"), ("service", "outlet")])
    for bad in ("8080", "x=/service/a", "8080=service/a", "8080=/service", "8080=/tcp/a", "8080=/service/a/secure/api",
                "70000=/service/a", "8080=/service//service/a", "=/service/a"):
        raises(ConfigError, parse_inlet, bad)
