//! Raw-socket helpers for tests that talk to the broker byte by byte.

#![allow(dead_code)] // each test file uses its own subset

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long a test waits for the broker before it fails.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

pub(crate) async fn connect(addr: SocketAddr) -> TcpStream {
    timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// Reads one response frame (size prefix included); `None` at end of stream.
pub(crate) async fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    match timeout(WAIT, s.read_exact(&mut size))
        .await
        .expect("a frame or EOF in time")
    {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
            ) =>
        {
            return None
        }
        Err(e) => panic!("{e}"),
    }
    let mut frame = size.to_vec();
    frame.resize(4 + i32::from_be_bytes(size) as usize, 0);
    timeout(WAIT, s.read_exact(&mut frame[4..]))
        .await
        .expect("frame body in time")
        .expect("frame body");
    Some(frame)
}

/// True once the broker has closed the connection.
pub(crate) async fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match timeout(WAIT, s.read(&mut buf))
            .await
            .expect("close in time")
        {
            Ok(0) | Err(_) => return true,
            Ok(_) => continue,
        }
    }
}
