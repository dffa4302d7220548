//! A hub with the default services of an `ockam node create` node (ockam_api's
//! nodes/service/manager.rs, initialize_default_services): a TCP listener; the secure channel
//! listener `api`; the relay service at `forwarding_service`, alias `static_forwarding_service`,
//! relays named `forward_to_<name>`; `echo` (the payload's bytes back) and `uppercase`.
//!
//!     hub --listen 127.0.0.1:4000 [--relays-through-channels]
//!
//! Flow control as on that node without a project: echo, uppercase, the relay service and the
//! relays take messages from the TCP listener's connections; echo and uppercase also from
//! secure channels to `api`. The relay service is not reachable through a channel there (only a
//! project node, with an authority, adds the channel's flow control to it);
//! --relays-through-channels adds it, as a project node does.

use hopseal_interop::{or_fail, say, Args, EchoBytes, Uppercase};
use ockam::identity::SecureChannelListenerOptions;
use ockam::tcp::{TcpListenerOptions, TcpTransportExtension};
use ockam::{node, Context, RelayService, RelayServiceOptions, Result};

#[ockam::node]
async fn main(ctx: Context) -> Result<()> {
    let args = Args::parse("--listen HOST:PORT [--relays-through-channels]");
    let listen = args.required("listen");
    let node = or_fail("node", node(ctx).await);
    let tcp = or_fail("tcp transport", node.create_tcp_transport());
    let hub = or_fail("identity", node.create_identity().await);

    let listener = or_fail("tcp listener", tcp.listen(&listen, TcpListenerOptions::new()).await);
    let tcp_flow = listener.flow_control_id().clone();
    let api = or_fail(
        "secure channel listener",
        node.create_secure_channel_listener(
            &hub,
            "api",
            SecureChannelListenerOptions::new().as_consumer(&tcp_flow),
        ),
    );
    let api_flow = api.flow_control_id().clone();

    let flow_controls = node.flow_controls();
    for service in ["echo", "uppercase"] {
        flow_controls.add_consumer(&service.into(), &tcp_flow);
        flow_controls.add_consumer(&service.into(), &api_flow);
    }
    or_fail("echo", node.start_worker("echo", EchoBytes));
    or_fail("uppercase", node.start_worker("uppercase", Uppercase));

    let mut options = RelayServiceOptions::new()
        .alias("static_forwarding_service")
        .service_as_consumer(&tcp_flow)
        .relay_as_consumer(&tcp_flow)
        .prefix("forward_to_");
    if args.flag("relays-through-channels") {
        options = options.service_as_consumer(&api_flow).relay_as_consumer(&api_flow);
    }
    or_fail(
        "relay service",
        RelayService::create(node.context(), "forwarding_service", options),
    );

    say(&format!("ready identifier={} listen={}", hub, listener.socket_address()));
    Ok(())
}
