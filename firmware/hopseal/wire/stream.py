"""The stream protocol's messages (ockam-wire §7, §7.1): BARE bodies in a ProtocolPayload envelope.

Optional: only stream producers, consumers and the stream service import it. Sans-I/O; every
decoder takes a whole buffer, raises DecodeError on anything malformed (truncated, trailing bytes,
bad option/enum tag, over-long strings) and nothing else.

    ProtocolPayload    { protocol: String, data: Vec<u8> }        protocol ids below; data = BARE body
    CreateStreamRequest{ stream_name: Option<String> }             "stream_create"
    Init               { stream_name: String }                     "stream_create" (reply)
    PushRequest        { request_id: Uint, data: Vec<u8> }          "stream_push"
    PushConfirm        { request_id: Uint, status: Status, index: Uint }   "stream_push" (reply); Status Ok=0, Error=1
    PullRequest        { request_id: Uint, index: Uint, limit: Uint }       "stream_pull"
    PullResponse       { request_id: Uint, messages: Vec<StreamMessage{index: Uint, data: Vec<u8>}> }
    enum Index         { Get{client_id, stream_name} = 0, Save{client_id, stream_name, index: Uint} = 1 }  "stream_index"
    Index (reply)      { client_id: String, stream_name: String, index: Option<Uint> }
    error              { reason: String }                          "error"
Uint = ULEB128 u64; Option = u8 0 | u8 1 ‖ value; enum tags are ULEB128 variant indexes (serde_bare).
The field orders are those of ockam's protocols/stream/{requests,responses}.rs before the client
was removed (§7.1); the 2021 releases had `stream_name` before `client_id` and a plain Uint index.
"""
from ..compat import const
from ..errors import DecodeError
from .bare import read_data, read_string, read_uleb128, write_uleb128

CREATE = "stream_create"
PUSH = "stream_push"
PULL = "stream_pull"
INDEX = "stream_index"
ERROR = "error"

OK = const(0)  # PushConfirm.status
FAILED = const(1)
GET = const(0)  # Index variants
SAVE = const(1)

MAX_NAME = const(255)  # bytes of a protocol id, stream name, client id or reason
MAX_DATA = const(1 << 20)  # bytes of one record (the transports' frames bound it far lower)
MAX_MESSAGES = const(10000)  # records in one PullResponse this decoder accepts


def _str(buf, s):
    b = s.encode() if isinstance(s, str) else s
    write_uleb128(buf, len(b))
    buf.extend(b)


def _data(buf, b):
    write_uleb128(buf, len(b))
    buf.extend(b)


def _end(buf, pos, what):
    if pos != len(buf):
        raise DecodeError("%d trailing bytes after %s" % (len(buf) - pos, what))


def _option_tag(buf, pos):
    if pos >= len(buf):
        raise DecodeError("truncated option")
    t = buf[pos]
    if t > 1:
        raise DecodeError("option tag %d is not 0 or 1" % t)
    return t, pos + 1


# -- the envelope -------------------------------------------------------------------------------

def encode_payload(protocol, body):
    """ProtocolPayload{protocol, data=body}: what travels as the routing message's payload."""
    buf = bytearray()
    _str(buf, protocol)
    _data(buf, body)
    return bytes(buf)


def decode_payload(buf):
    """(protocol id, body bytes) of a ProtocolPayload."""
    protocol, pos = read_string(buf, 0, MAX_NAME)
    body, pos = read_data(buf, pos, MAX_DATA + 64)
    _end(buf, pos, "ProtocolPayload")
    return protocol, body


# -- requests -----------------------------------------------------------------------------------

def create(stream_name=None):
    """CreateStreamRequest as a ProtocolPayload."""
    buf = bytearray()
    if stream_name is None:
        buf.append(0)
    else:
        buf.append(1)
        _str(buf, stream_name)
    return encode_payload(CREATE, buf)


def decode_create(body):
    """The stream name of a CreateStreamRequest body, or None."""
    t, pos = _option_tag(body, 0)
    name = None
    if t:
        name, pos = read_string(body, pos, MAX_NAME)
    _end(body, pos, "CreateStreamRequest")
    return name


def push(request_id, data):
    buf = bytearray()
    write_uleb128(buf, request_id)
    _data(buf, data)
    return encode_payload(PUSH, buf)


def decode_push(body, max_data=MAX_DATA):
    """(request_id, data) of a PushRequest body; data longer than `max_data` is a DecodeError."""
    rid, pos = read_uleb128(body, 0)
    data, pos = read_data(body, pos, max_data)
    _end(body, pos, "PushRequest")
    return rid, data


def pull(request_id, index, limit):
    buf = bytearray()
    write_uleb128(buf, request_id)
    write_uleb128(buf, index)
    write_uleb128(buf, limit)
    return encode_payload(PULL, buf)


def decode_pull(body):
    """(request_id, index, limit) of a PullRequest body."""
    rid, pos = read_uleb128(body, 0)
    index, pos = read_uleb128(body, pos)
    limit, pos = read_uleb128(body, pos)
    _end(body, pos, "PullRequest")
    return rid, index, limit


def index_get(client_id, stream_name):
    buf = bytearray((GET,))
    _str(buf, client_id)
    _str(buf, stream_name)
    return encode_payload(INDEX, buf)


def index_save(client_id, stream_name, index):
    buf = bytearray((SAVE,))
    _str(buf, client_id)
    _str(buf, stream_name)
    write_uleb128(buf, index)
    return encode_payload(INDEX, buf)


def decode_index_request(body):
    """(GET|SAVE, client_id, stream_name, index or None) of an Index request body."""
    kind, pos = read_uleb128(body, 0)
    if kind > SAVE:
        raise DecodeError("Index request variant %d (0 Get, 1 Save)" % kind)
    client, pos = read_string(body, pos, MAX_NAME)
    stream, pos = read_string(body, pos, MAX_NAME)
    index = None
    if kind == SAVE:
        index, pos = read_uleb128(body, pos)
    _end(body, pos, "Index request")
    return kind, client, stream, index


# -- responses ----------------------------------------------------------------------------------

def init(stream_name):
    buf = bytearray()
    _str(buf, stream_name)
    return encode_payload(CREATE, buf)


def decode_init(body):
    name, pos = read_string(body, 0, MAX_NAME)
    _end(body, pos, "Init")
    return name


def push_confirm(request_id, ok, index):
    buf = bytearray()
    write_uleb128(buf, request_id)
    buf.append(OK if ok else FAILED)
    write_uleb128(buf, index)
    return encode_payload(PUSH, buf)


def decode_push_confirm(body):
    """(request_id, ok: bool, index) of a PushConfirm body."""
    rid, pos = read_uleb128(body, 0)
    status, pos = read_uleb128(body, pos)
    if status > FAILED:
        raise DecodeError("PushConfirm status %d (0 Ok, 1 Error)" % status)
    index, pos = read_uleb128(body, pos)
    _end(body, pos, "PushConfirm")
    return rid, status == OK, index


def pull_response(request_id, messages):
    """PullResponse for `messages`, a list of (index, data)."""
    buf = bytearray()
    write_uleb128(buf, request_id)
    write_uleb128(buf, len(messages))
    for index, data in messages:
        write_uleb128(buf, index)
        _data(buf, data)
    return encode_payload(PULL, buf)


def decode_pull_response(body, max_data=MAX_DATA):
    """(request_id, [(index, data), ...]) of a PullResponse body."""
    rid, pos = read_uleb128(body, 0)
    n, pos = read_uleb128(body, pos)
    if n > MAX_MESSAGES:
        raise DecodeError("PullResponse with %d messages" % n)
    out = []
    for _ in range(n):
        index, pos = read_uleb128(body, pos)
        data, pos = read_data(body, pos, max_data)
        out.append((index, data))
    _end(body, pos, "PullResponse")
    return rid, out


def index_reply(client_id, stream_name, index):
    buf = bytearray()
    _str(buf, client_id)
    _str(buf, stream_name)
    if index is None:
        buf.append(0)
    else:
        buf.append(1)
        write_uleb128(buf, index)
    return encode_payload(INDEX, buf)


def decode_index_reply(body):
    """(client_id, stream_name, index or None) of an Index reply body."""
    client, pos = read_string(body, 0, MAX_NAME)
    stream, pos = read_string(body, pos, MAX_NAME)
    t, pos = _option_tag(body, pos)
    index = None
    if t:
        index, pos = read_uleb128(body, pos)
    _end(body, pos, "Index")
    return client, stream, index


def error(reason):
    """The `error` reply; a reason longer than MAX_NAME bytes is cut at a character boundary."""
    if not isinstance(reason, str):
        reason = bytes(reason).decode()
    b = reason.encode()
    while len(b) > MAX_NAME:
        reason = reason[:-1]
        b = reason.encode()
    buf = bytearray()
    _str(buf, b)
    return encode_payload(ERROR, buf)


def decode_error(body):
    reason, pos = read_string(body, 0, MAX_NAME)
    _end(body, pos, "error")
    return reason
