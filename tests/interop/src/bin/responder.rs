//! Seed 004's responder: a TCP listener, a secure channel listener, and an echoer that is
//! reachable only through a secure channel (its only flow-control producer is the listener).
//!
//!     responder --listen 127.0.0.1:4000 [--listener bob_listener] [--echoer echoer]

use hopseal_interop::{or_fail, say, Args, Echoer};
use ockam::identity::SecureChannelListenerOptions;
use ockam::tcp::{TcpListenerOptions, TcpTransportExtension};
use ockam::{node, Context, Result};

#[ockam::node]
async fn main(ctx: Context) -> Result<()> {
    let args = Args::parse("--listen HOST:PORT [--listener NAME] [--echoer NAME]");
    let listen = args.required("listen");
    let node = or_fail("node", node(ctx).await);
    let tcp = or_fail("tcp transport", node.create_tcp_transport());

    let echoer = args.get("echoer", "echoer");
    or_fail("echoer", node.start_worker(echoer.as_str(), Echoer));

    let bob = or_fail("identity", node.create_identity().await);
    let listener = or_fail("tcp listener", tcp.listen(&listen, TcpListenerOptions::new()).await);
    let secure_channel_listener = or_fail(
        "secure channel listener",
        node.create_secure_channel_listener(
            &bob,
            args.get("listener", "bob_listener").as_str(),
            SecureChannelListenerOptions::new().as_consumer(listener.flow_control_id()),
        ),
    );
    // the echoer only through secure channels
    node.flow_controls()
        .add_consumer(&echoer.as_str().into(), secure_channel_listener.flow_control_id());

    say(&format!("ready identifier={} listen={}", bob, listener.socket_address()));
    // no node.shutdown(): the node runs until the process is stopped
    Ok(())
}
