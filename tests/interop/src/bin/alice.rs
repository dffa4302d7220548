//! Seed 002's Alice: reaches Bob's secure channel listener through Bob's relay at a hub, and
//! sends messages to Bob's echoer through the channel (the address comes from the command line
//! instead of standard input).
//!
//!     alice --hub 127.0.0.1:4000 --relay forward_to_bob [--listener listener]
//!           [--service echoer] [--message TEXT] [--count N] [--timeout S]

use hopseal_interop::{initiate, or_fail, Args};
use ockam::{node, Context, Result};
use std::time::Duration;

#[ockam::node]
async fn main(ctx: Context) -> Result<()> {
    let args = Args::parse(
        "--hub HOST:PORT --relay ADDRESS [--listener NAME] [--service NAME] [--message TEXT] [--count N] [--timeout S]",
    );
    let node = or_fail("node", node(ctx).await);
    let hops = format!("{},{}", args.required("relay"), args.get("listener", "listener"));
    initiate(
        node,
        &args.required("hub"),
        &hops,
        &args.get("service", "echoer"),
        &args.get("message", "Hello Bob!"),
        args.number("count", 3),
        Duration::from_secs(args.number("timeout", 20)),
    )
    .await
}
