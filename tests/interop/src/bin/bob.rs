//! Seed 001's Bob: a secure channel listener and an echoer reachable only through it, behind a
//! relay at a hub (Bob opens the TCP connection; the hub needs no way to reach him).
//!
//!     bob --hub 127.0.0.1:4000 [--name bob] [--listener listener] [--echoer echoer]
//!
//! With --name the relay is static (`static_forwarding_service`, Ockam's RemoteRelay
//! create_static); without it Bob asks `forwarding_service` for a random one ("register").
//! Prints `interop: relay ADDRESS`, the address Alice puts before `listener`.

use hopseal_interop::{or_fail, say, Args, Echoer};
use ockam::identity::SecureChannelListenerOptions;
use ockam::remote::RemoteRelayOptions;
use ockam::tcp::{TcpConnectionOptions, TcpTransportExtension};
use ockam::{node, route, Context, Result};

#[ockam::node]
async fn main(ctx: Context) -> Result<()> {
    let args = Args::parse("--hub HOST:PORT [--name NAME] [--listener NAME] [--echoer NAME]");
    let hub = args.required("hub");
    let node = or_fail("node", node(ctx).await);
    let tcp = or_fail("tcp transport", node.create_tcp_transport());
    let bob = or_fail("identity", node.create_identity().await);

    let connection = or_fail("connect", tcp.connect(&hub, TcpConnectionOptions::new()).await);
    let echoer = args.get("echoer", "echoer");
    or_fail("echoer", node.start_worker(echoer.as_str(), Echoer));
    // what comes out of the relay comes from the hub connection: the listener takes it
    let listener = or_fail(
        "secure channel listener",
        node.create_secure_channel_listener(
            &bob,
            args.get("listener", "listener").as_str(),
            SecureChannelListenerOptions::new().as_consumer(connection.flow_control_id()),
        ),
    );
    node.flow_controls()
        .add_consumer(&echoer.as_str().into(), listener.flow_control_id());

    let relay = match args.get("name", "").as_str() {
        "" => node.create_relay(route![connection], RemoteRelayOptions::new()).await,
        name => {
            node.create_static_relay(route![connection], name, RemoteRelayOptions::new())
                .await
        }
    };
    let relay = or_fail("relay", relay);
    say(&format!("ready identifier={} hub={}", bob, hub));
    say(&format!("relay {}", relay.remote_address()));
    Ok(())
}
