//! A server that goes away: a TCP proxy in front of the double that serves the first `allow`
//! requests and then stops listening, so every later request gets "connection refused".
//!
//! The renewer keeps connections alive, so the proxy adds `Connection: close` to each request:
//! one request per connection makes "the k-th request" and "the k-th connection" the same thing.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;

pub struct GoneAfter {
    pub addr: SocketAddr,
}

impl GoneAfter {
    pub fn start(upstream: SocketAddr, allow: usize) -> GoneAfter {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for _ in 0..allow {
                let Ok((client, _)) = listener.accept() else {
                    return;
                };
                thread::spawn(move || pipe(client, upstream));
            }
            // Dropping the listener here: the next connection attempt is refused.
        });
        GoneAfter { addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn pipe(mut client: TcpStream, upstream: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    // The request line, then our header, then everything else verbatim.
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        match client.read(&mut byte) {
            Ok(1) => line.push(byte[0]),
            _ => return,
        }
    }
    line.extend_from_slice(b"Connection: close\r\n");
    if server.write_all(&line).is_err() {
        return;
    }
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let up = thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut s2);
        let _ = s2.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut server, &mut client);
    let _ = client.shutdown(Shutdown::Both);
    let _ = up.join();
}
