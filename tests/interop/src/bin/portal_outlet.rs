//! An Ockam TCP outlet (ockam_transport_tcp's `TcpTransport::create_outlet`, what
//! `ockam tcp-outlet create` runs) at `--at` (default `outlet`), to `--to`, reachable only
//! through a secure channel to the listener `--listener` (default `api`). The channel comes in
//! over a TCP listener (`--listen`) or through a relay at a hub (`--hub`, static name `--relay`).
//!
//!     portal_outlet --to 127.0.0.1:8080 (--listen 127.0.0.1:0 | --hub 127.0.0.1:4000 --relay web)
//!                   [--at outlet] [--listener api]
//!
//! Prints `interop: ready identifier=I… listen=HOST:PORT` (or `hub=…`), with --hub also
//! `interop: relay ADDRESS`, and runs until stopped.

use hopseal_interop::{fail, or_fail, say, Args};
use ockam::identity::SecureChannelListenerOptions;
use ockam::remote::RemoteRelayOptions;
use ockam::tcp::{
    TcpConnectionOptions, TcpListenerOptions, TcpOutletOptions, TcpTransportExtension,
};
use ockam::transport::HostnamePort;
use ockam::{node, route, Context, Result};

#[ockam::node]
async fn main(ctx: Context) -> Result<()> {
    let args = Args::parse(
        "--to HOST:PORT (--listen HOST:PORT | --hub HOST:PORT --relay NAME) [--at NAME] [--listener NAME]",
    );
    let to = or_fail("--to", HostnamePort::try_from(args.required("to").as_str()));
    let node = or_fail("node", node(ctx).await);
    let tcp = or_fail("tcp transport", node.create_tcp_transport());
    let me = or_fail("identity", node.create_identity().await);
    let listener_name = args.get("listener", "api");

    // where the channel's messages come from: a TCP listener, or the connection to the hub
    let (from_flow, where_) = if args.flag("listen") {
        let l = or_fail(
            "tcp listener",
            tcp.listen(&args.required("listen"), TcpListenerOptions::new()).await,
        );
        (l.flow_control_id().clone(), format!("listen={}", l.socket_address()))
    } else if args.flag("hub") {
        let hub = args.required("hub");
        let c = or_fail("connect", tcp.connect(&hub, TcpConnectionOptions::new()).await);
        let relay = or_fail(
            "relay",
            node.create_static_relay(route![c.clone()], &args.required("relay"), RemoteRelayOptions::new())
                .await,
        );
        say(&format!("relay {}", relay.remote_address()));
        (c.flow_control_id().clone(), format!("hub={}", hub))
    } else {
        fail("--listen or --hub is required")
    };
    let listener = or_fail(
        "secure channel listener",
        node.create_secure_channel_listener(
            &me,
            listener_name.as_str(),
            SecureChannelListenerOptions::new().as_consumer(&from_flow),
        ),
    );
    or_fail(
        "outlet",
        tcp.create_outlet(
            args.get("at", "outlet").as_str(),
            to,
            TcpOutletOptions::new().as_consumer(listener.flow_control_id()),
        ),
    );
    say(&format!("ready identifier={} {}", me, where_));
    Ok(())
}
