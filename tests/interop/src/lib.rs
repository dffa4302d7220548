//! What the interop programs share: the tutorials' workers (an echoer, a forwarder), the
//! services of an `ockam node create` node (`echo`, `uppercase`), and a tiny argument parser.
//!
//! Each program prints one status line per event on stdout, starting with `interop:`, which
//! hopseal's interop tests (tests/interop/test_interop.py) wait for:
//!
//! - `interop: ready identifier=I… listen=HOST:PORT` once everything is set up;
//! - `interop: relay ADDRESS` (Bob) when the hub answered the relay registration;
//! - `interop: reply TEXT rtt_us=N` (initiator, Alice) for each reply, then exit 0;
//! - `interop: error WHAT` and exit 1 when something failed.

use ockam::identity::SecureChannelOptions;
use ockam::tcp::{TcpConnectionOptions, TcpTransportExtension};
use ockam::{
    route, Any, Context, LocalMessage, MessageSendReceiveOptions, Node, Result, Route, Routed,
    Worker,
};
use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// The tutorials' Echoer (004, 001): a BARE `String` back along the return route.
pub struct Echoer;

#[ockam::worker]
impl Worker for Echoer {
    type Context = Context;
    type Message = String;

    async fn handle_message(&mut self, ctx: &mut Context, msg: Routed<String>) -> Result<()> {
        let return_route = msg.return_route().clone();
        ctx.send(return_route, msg.into_body()?).await
    }
}

/// `echo` of an Ockam CLI node (ockam_api's echoer): the payload's bytes back, whatever they are.
pub struct EchoBytes;

#[ockam::worker]
impl Worker for EchoBytes {
    type Context = Context;
    type Message = Any;

    async fn handle_message(&mut self, ctx: &mut Context, msg: Routed<Any>) -> Result<()> {
        let return_route = msg.return_route().clone();
        let payload = msg.into_payload();
        ctx.forward(
            LocalMessage::new()
                .with_onward_route(return_route)
                .with_return_route(route![ctx.primary_address().clone()])
                .with_payload(payload),
        )
        .await
    }
}

/// `uppercase` of an Ockam CLI node: a BARE `String`, upper-cased.
pub struct Uppercase;

#[ockam::worker]
impl Worker for Uppercase {
    type Context = Context;
    type Message = String;

    async fn handle_message(&mut self, ctx: &mut Context, msg: Routed<String>) -> Result<()> {
        let return_route = msg.return_route().clone();
        ctx.send(return_route, msg.into_body()?.to_uppercase()).await
    }
}

/// The tutorial's middle-node worker (004, `forward_to_bob`): steps itself off the onward route
/// and puts `to` in front, so a message for `[forward_to_bob, …rest]` goes on as `[to…, …rest]`.
/// It lets the two connections' flow controls reach each other, as Ockam's own relay does
/// (ockam/src/relay_service/relay.rs), so replies find their way back.
pub struct Forwarder {
    pub to: Route,
}

#[ockam::worker]
impl Worker for Forwarder {
    type Context = Context;
    type Message = Any;

    async fn handle_message(&mut self, ctx: &mut Context, msg: Routed<Any>) -> Result<()> {
        let message = msg
            .into_local_message()
            .pop_front_onward_route()?
            .prepend_front_onward_route(self.to.clone());
        let next_hop = message.next_on_onward_route()?;
        let prev_hop = message.return_route().next()?.clone();
        let flow_controls = ctx.flow_controls();
        if let Some(info) = flow_controls.find_flow_control_with_producer_address(&next_hop) {
            flow_controls.add_consumer(&prev_hop, info.flow_control_id());
        }
        if let Some(info) = flow_controls.find_flow_control_with_producer_address(&prev_hop) {
            flow_controls.add_consumer(&next_hop, info.flow_control_id());
        }
        ctx.forward(message).await
    }
}

/// `--name value` pairs (and bare `--flag`s, with value "") from the command line.
pub struct Args {
    program: String,
    values: HashMap<String, String>,
}

impl Args {
    pub fn parse(usage: &str) -> Args {
        let mut it = std::env::args();
        let program = it.next().unwrap_or_default();
        let rest: Vec<String> = it.collect();
        let mut values = HashMap::new();
        let mut i = 0;
        while i < rest.len() {
            let key = match rest[i].strip_prefix("--") {
                Some(k) if k == "help" => {
                    println!("usage: {} {}", program, usage);
                    std::process::exit(0);
                }
                Some(k) => k.to_string(),
                None => fail(&format!("unexpected argument {:?}; usage: {}", rest[i], usage)),
            };
            if i + 1 < rest.len() && !rest[i + 1].starts_with("--") {
                values.insert(key, rest[i + 1].clone());
                i += 2;
            } else {
                values.insert(key, String::new());
                i += 1;
            }
        }
        Args { program, values }
    }

    pub fn get(&self, name: &str, default: &str) -> String {
        self.values.get(name).cloned().unwrap_or_else(|| default.to_string())
    }

    pub fn required(&self, name: &str) -> String {
        match self.values.get(name) {
            Some(v) if !v.is_empty() => v.clone(),
            _ => fail(&format!("{}: --{} is required", self.program, name)),
        }
    }

    pub fn flag(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    pub fn number(&self, name: &str, default: u64) -> u64 {
        match self.values.get(name) {
            None => default,
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| fail(&format!("--{} wants a number, not {:?}", name, v))),
        }
    }
}

/// A route written `a,b,c` (local addresses only; the transport hop comes from --connect).
pub fn local_route(text: &str) -> Route {
    let mut r = Route::new();
    for hop in text.split(',').filter(|h| !h.is_empty()) {
        r = r.append(hop);
    }
    r.into()
}

/// One `interop: …` status line, flushed at once (stdout is a pipe in the tests).
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "interop: {}", line);
    let _ = out.flush();
}

/// Say what went wrong and exit 1.
pub fn fail(what: &str) -> ! {
    say(&format!("error {}", what));
    std::process::exit(1)
}

/// `Result` to value, or exit 1 naming the step that failed.
pub fn or_fail<T>(step: &str, r: Result<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => fail(&format!("{}: {}", step, e)),
    }
}

/// The initiator's part (004's initiator, 002's Alice): a TCP connection to `connect`, a secure
/// channel along `[connection, …hops]` (the last hop is the listener), then `count` messages
/// to `service` through it, each checked and printed with its round-trip time. Exits: 0 when
/// every reply came back equal, 1 otherwise.
pub async fn initiate(
    node: Node,
    connect: &str,
    hops: &str,
    service: &str,
    message: &str,
    count: u64,
    timeout: Duration,
) -> ! {
    let me = or_fail("identity", node.create_identity().await);
    let tcp = or_fail("tcp transport", node.create_tcp_transport());
    let connection = or_fail("connect", tcp.connect(connect, TcpConnectionOptions::new()).await);

    let r = route![connection].modify().append_route(local_route(hops)).build();
    let t0 = Instant::now();
    let channel = or_fail(
        "secure channel",
        node.create_secure_channel(&me, r, SecureChannelOptions::new().with_timeout(timeout))
            .await,
    );
    say(&format!("channel up in {}us identifier={}", t0.elapsed().as_micros(), me));

    for i in 0..count {
        let text = format!("{} {}", message, i);
        let t = Instant::now();
        let reply: String = or_fail(
            "reply",
            node.send_and_receive_extended::<String>(
                route![channel.clone(), service],
                text.clone(),
                MessageSendReceiveOptions::new().with_timeout(timeout),
            )
            .await
            .and_then(|m| m.into_body()),
        );
        let rtt = t.elapsed().as_micros();
        if reply != text {
            fail(&format!("reply {:?} to {:?}", reply, text));
        }
        say(&format!("reply {} rtt_us={}", reply, rtt));
    }
    std::process::exit(0)
}
