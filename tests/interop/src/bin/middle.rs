//! Seed 004's middle node: a TCP connection to the responder, a `forward_to_bob` worker that
//! forwards everything over it, and a TCP listener whose connections may reach that worker.
//!
//!     middle --listen 127.0.0.1:3000 --to 127.0.0.1:4000 [--name forward_to_bob]

use hopseal_interop::{or_fail, say, Args, Forwarder};
use ockam::tcp::{TcpConnectionOptions, TcpListenerOptions, TcpTransportExtension};
use ockam::{node, route, Context, Result};

#[ockam::node]
async fn main(ctx: Context) -> Result<()> {
    let args = Args::parse("--listen HOST:PORT --to HOST:PORT [--name NAME]");
    let listen = args.required("listen");
    let to = args.required("to");
    let name = args.get("name", "forward_to_bob");
    let node = or_fail("node", node(ctx).await);
    let tcp = or_fail("tcp transport", node.create_tcp_transport());

    let connection_to_bob = or_fail("connect", tcp.connect(&to, TcpConnectionOptions::new()).await);
    or_fail(
        "forwarder",
        node.start_worker(name.as_str(), Forwarder { to: route![connection_to_bob] }),
    );
    let listener = or_fail("tcp listener", tcp.listen(&listen, TcpListenerOptions::new()).await);
    node.flow_controls()
        .add_consumer(&name.as_str().into(), listener.flow_control_id());

    say(&format!("ready listen={} to={}", listener.socket_address(), to));
    Ok(())
}
