//! Seed 004's initiator: a TCP connection, a secure channel along
//! `[connection, …--route]` (the last hop is the listener), then messages to the echoer
//! through the channel; prints each reply with its round-trip time and exits.
//!
//!     initiator --connect 127.0.0.1:3000 --route forward_to_bob,bob_listener
//!               [--service echoer] [--message TEXT] [--count N] [--timeout S]

use hopseal_interop::{initiate, or_fail, Args};
use ockam::{node, Context, Result};
use std::time::Duration;

#[ockam::node]
async fn main(ctx: Context) -> Result<()> {
    let args = Args::parse(
        "--connect HOST:PORT --route HOP,...,LISTENER [--service NAME] [--message TEXT] [--count N] [--timeout S]",
    );
    let node = or_fail("node", node(ctx).await);
    initiate(
        node,
        &args.required("connect"),
        &args.required("route"),
        &args.get("service", "echoer"),
        &args.get("message", "Hello Ockam!"),
        args.number("count", 3),
        Duration::from_secs(args.number("timeout", 20)),
    )
    .await
}
