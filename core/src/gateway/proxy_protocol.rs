//! The PROXY protocol (HAProxy's, versions 1 and 2): the header a layer-4 load balancer
//! writes at the start of a connection to say whose connection it is. Read only from
//! `trusted_proxies` addresses, and only when `proxy_protocol` is on; parsed by the `ppp`
//! crate. The header is read without reading past it, so the HTTP that follows is untouched.

use std::io;
use std::net::SocketAddr;

use ppp::v1;
use ppp::v2;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The twelve bytes every version 2 header starts with.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The longest version 1 header, CRLF included (the protocol's own bound).
const V1_MAX: usize = 107;

/// The largest version 2 header read (its fixed part and addresses, with room for TLVs).
const V2_MAX: usize = 16 + 1024;

fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

/// Reads one PROXY header from the start of `io`: the client's address it carries, or `None`
/// for a header that names no client (v1 `UNKNOWN`, v2 `LOCAL`: a health check). Anything
/// that is not a valid header is an error, and the connection should be closed.
pub(crate) async fn read_header<IO>(io: &mut IO) -> io::Result<Option<SocketAddr>>
where
    IO: AsyncRead + Unpin,
{
    let mut buf = vec![0u8; 12];
    io.read_exact(&mut buf).await?;
    if buf == V2_SIGNATURE {
        let mut fixed = [0u8; 4];
        io.read_exact(&mut fixed).await?;
        buf.extend_from_slice(&fixed);
        let len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
        if 16 + len > V2_MAX {
            return Err(invalid("PROXY v2 header too long"));
        }
        let start = buf.len();
        buf.resize(start + len, 0);
        io.read_exact(&mut buf[start..]).await?;
        let header = v2::Header::try_from(buf.as_slice())
            .map_err(|e| invalid(format!("bad PROXY v2 header: {e}")))?;
        return Ok(match (header.command, header.addresses) {
            (v2::Command::Local, _) => None,
            (_, v2::Addresses::IPv4(a)) => {
                Some(SocketAddr::from((a.source_address, a.source_port)))
            }
            (_, v2::Addresses::IPv6(a)) => {
                Some(SocketAddr::from((a.source_address, a.source_port)))
            }
            _ => None,
        });
    }
    if !buf.starts_with(b"PROXY ") {
        return Err(invalid("the connection did not start with a PROXY header"));
    }
    // Version 1 ends at CRLF; read byte by byte so as not to read the HTTP after it.
    while !buf.ends_with(b"\r\n") {
        if buf.len() >= V1_MAX {
            return Err(invalid("PROXY v1 header too long"));
        }
        buf.push(io.read_u8().await?);
    }
    let header = v1::Header::try_from(buf.as_slice())
        .map_err(|e| invalid(format!("bad PROXY v1 header: {e}")))?;
    Ok(match header.addresses {
        v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v1::Addresses::Unknown => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> (io::Result<Option<SocketAddr>>, Vec<u8>) {
        let mut cursor = io::Cursor::new(bytes.to_vec());
        let got = read_header(&mut cursor).await;
        let mut rest = Vec::new();
        cursor.read_to_end(&mut rest).await.unwrap();
        (got, rest)
    }

    #[tokio::test]
    async fn version_1() {
        let (got, rest) =
            read(b"PROXY TCP4 203.0.113.9 192.0.2.1 51000 443\r\nGET / HTTP/1.1\r\n").await;
        assert_eq!(got.unwrap(), Some("203.0.113.9:51000".parse().unwrap()));
        assert_eq!(rest, b"GET / HTTP/1.1\r\n");
        let (got, _) = read(b"PROXY TCP6 2001:db8::9 2001:db8::1 51000 443\r\n").await;
        assert_eq!(got.unwrap(), Some("[2001:db8::9]:51000".parse().unwrap()));
        let (got, rest) = read(b"PROXY UNKNOWN\r\nGET").await;
        assert_eq!((got.unwrap(), rest.as_slice()), (None, &b"GET"[..]));
        assert!(read(b"PROXY TCP4 nonsense\r\n").await.0.is_err());
        assert!(read(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.0.is_err());
        assert!(read(&[b'P'; 200]).await.0.is_err());
    }

    #[tokio::test]
    async fn version_2() {
        let src: SocketAddr = "203.0.113.9:51000".parse().unwrap();
        let dst: SocketAddr = "192.0.2.1:443".parse().unwrap();
        let mut bytes = v2::Builder::with_addresses(
            v2::Version::Two | v2::Command::Proxy,
            v2::Protocol::Stream,
            (src, dst),
        )
        .build()
        .unwrap();
        bytes.extend_from_slice(b"GET /");
        let (got, rest) = read(&bytes).await;
        assert_eq!(got.unwrap(), Some(src));
        assert_eq!(rest, b"GET /");
        let local = v2::Builder::with_addresses(
            v2::Version::Two | v2::Command::Local,
            v2::Protocol::Unspecified,
            v2::Addresses::Unspecified,
        )
        .build()
        .unwrap();
        assert_eq!(read(&local).await.0.unwrap(), None);
    }
}
