//! What ockam_transport_tcp's `PortalMessage` (0.137.0, the one ockam 0.150.0 uses) actually
//! encodes and decodes, for tests/interop/test_portal_interop.py to hold tests/vectors/portal.json
//! against:
//!
//!     portal_vectors encode                 one line per message: `NAME HEX`
//!     portal_vectors decode HEX [HEX …]     one line per input: `HEX kind=K data=HEX counter=N|none`
//!                                           or `HEX invalid`
//!
//! The encoded messages: ping, pong, disconnect, and payloads of "hello", "" and 49152 and 128
//! bytes of zeros (the last two printed as their first bytes only: `NAME_head HEX`), each with no
//! counter and with counters 0, 4660 and 65535.

use ockam_transport_tcp::PortalMessage;
use ockam::{Encodable};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{:02x}", x)).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(|s| s.as_str()) {
        Some("encode") => {
            let enc = |m: PortalMessage| m.encode().expect("encode");
            println!("ping {}", hex(&enc(PortalMessage::Ping)));
            println!("pong {}", hex(&enc(PortalMessage::Pong)));
            println!("disconnect {}", hex(&enc(PortalMessage::Disconnect)));
            let big = vec![0u8; 49152];
            let mid = vec![0u8; 128];
            for (name, data) in [("hello", &b"hello"[..]), ("empty", &b""[..])] {
                for (cname, c) in [("none", None), ("0", Some(0u16)), ("4660", Some(4660)), ("65535", Some(65535))] {
                    println!("payload_{}_counter_{} {}", name, cname, hex(&enc(PortalMessage::Payload(data, c))));
                }
            }
            for (name, data) in [("49152", &big[..]), ("128", &mid[..])] {
                let e = enc(PortalMessage::Payload(data, None));
                println!("payload_{}_head {}", name, hex(&e[..e.len() - data.len()]));
                println!("payload_{}_len {}", name, e.len());
            }
        }
        Some("decode") => {
            for h in &args[1..] {
                let b = unhex(h);
                match PortalMessage::decode(&b) {
                    Ok(PortalMessage::Ping) => println!("{} kind=0", h),
                    Ok(PortalMessage::Pong) => println!("{} kind=1", h),
                    Ok(PortalMessage::Disconnect) => println!("{} kind=2", h),
                    Ok(PortalMessage::Payload(d, c)) => println!(
                        "{} kind=3 data={} counter={}",
                        h,
                        hex(d),
                        c.map(|c| c.to_string()).unwrap_or_else(|| "none".into())
                    ),
                    Err(_) => println!("{} invalid", h),
                }
            }
        }
        _ => {
            eprintln!("usage: portal_vectors encode | decode HEX...");
            std::process::exit(2)
        }
    }
}
