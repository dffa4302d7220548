//! An Ockam TCP inlet (ockam_transport_tcp's `TcpTransport::create_inlet`, what
//! `ockam tcp-inlet create` runs): a TCP connection to `--connect`, a secure channel along
//! `[connection, …hops]` (the last hop is the far node's secure channel listener), then an inlet
//! on `--from` whose connections go to `[channel, outlet]`.
//!
//!     portal_inlet --connect 127.0.0.1:4000 --hops forward_to_web,api --from 127.0.0.1:0
//!                  [--outlet outlet] [--timeout S]
//!
//! Prints `interop: ready identifier=I… listen=HOST:PORT` (the inlet's bound address) and runs
//! until stopped.

use hopseal_interop::{local_route, or_fail, say, Args};
use ockam::identity::SecureChannelOptions;
use ockam::tcp::{TcpConnectionOptions, TcpInletOptions, TcpTransportExtension};
use ockam::{node, route, Context, Result};
use std::time::Duration;

#[ockam::node]
async fn main(ctx: Context) -> Result<()> {
    let args = Args::parse(
        "--connect HOST:PORT --hops A,B --from HOST:PORT [--outlet NAME] [--timeout S]",
    );
    let node = or_fail("node", node(ctx).await);
    let tcp = or_fail("tcp transport", node.create_tcp_transport());
    let me = or_fail("identity", node.create_identity().await);
    let connection = or_fail(
        "connect",
        tcp.connect(&args.required("connect"), TcpConnectionOptions::new()).await,
    );
    let r = route![connection]
        .modify()
        .append_route(local_route(&args.required("hops")))
        .build();
    let timeout = Duration::from_secs(args.number("timeout", 20));
    let channel = or_fail(
        "secure channel",
        node.create_secure_channel(&me, r, SecureChannelOptions::new().with_timeout(timeout))
            .await,
    );
    let outlet = args.get("outlet", "outlet");
    let inlet = or_fail(
        "inlet",
        tcp.create_inlet(
            args.required("from"),
            route![channel, outlet.as_str()],
            TcpInletOptions::new(),
        )
        .await,
    );
    say(&format!("ready identifier={} listen={}", me, inlet.socket_address()));
    Ok(())
}
