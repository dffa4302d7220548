"""The default services of an `ockam node create` node that need no secure channel.

- `echo` (ockam_api Echoer): sends the payload back, unchanged, to the return route.
- `uppercase` (ockam_api Uppercase): the payload is a BARE String; replies with it upper-cased.
- `Forwarder`: the relay worker of a middle node (the `forward_to_bob` worker of the two-hop
  example): steps itself off the onward route and prepends a fixed route.
"""
from ..wire import bare
from ..wire.message import route, step


class Echo:
    def __init__(self, address="echo"):
        self.address = route(address)[0]

    async def handle_message(self, node, msg):
        node.count("echo")
        await node.send(msg.return_, msg.payload, [self.address])


class Uppercase:
    def __init__(self, address="uppercase"):
        self.address = route(address)[0]

    async def handle_message(self, node, msg):
        text = bare.decode_string(msg.payload)  # DecodeError is logged by the caller
        await node.send(msg.return_, bare.encode_string(text.upper()), [self.address])


class Forwarder:
    """Forward everything along `to` (e.g. `[connection_to_bob.address]`), keeping the return route:
    the forwarding rule, in one place (relays and the gateway's `hub` worker are Forwarders)."""

    def __init__(self, address, to):
        self.address = route(address)[0]
        self.to = route(to)
        self.forwarded = 0

    async def handle_message(self, node, msg):
        step(msg, self.address)
        msg.onward = self.to + msg.onward
        self.forwarded += 1
        await node.route(msg)


def start_default_services(node):
    node.start_worker("echo", Echo())
    node.start_worker("uppercase", Uppercase())
