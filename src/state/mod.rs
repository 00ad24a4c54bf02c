//! Filesystem state: manifests of a container's paths and their comparison.
//!
//! Everything here works on tar streams and knows nothing of the engine: [`read_stream`] turns
//! any async stream of archive bytes (the engine's, a file's) into a [`Manifest`] without
//! holding the tree in memory, and [`diff`] compares two manifests.

pub mod dated;
pub mod diff;
pub mod identity;
pub mod ignore;
pub mod manifest;
pub mod snapshot;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

pub use identity::{Identity, ValueKind};
pub use ignore::Ignore;
pub use manifest::Manifest;

/// How many bytes of the archive stream go to the tar reader at a time.
const BATCH: usize = 256 * 1024;

/// A blocking reader over chunks sent from the async side.
struct ChannelReader {
    receiver: tokio::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Feeds an async byte stream to a blocking tar reader without buffering more than a few chunks.
async fn stream_into<S, E, F>(stream: S, read: F) -> Result<Manifest, String>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display,
    F: FnOnce(ChannelReaderHandle) -> std::io::Result<Manifest> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(8);
    let reader = tokio::task::spawn_blocking(move || {
        read(ChannelReaderHandle(ChannelReader {
            receiver,
            current: Bytes::new(),
        }))
    });
    let mut stream = Box::pin(stream);
    let mut failure = None;
    // The engine sends ~20 KiB chunks; handing each to the reader thread costs a wake-up, which
    // on a busy 2-core machine costs more than the parsing. Batches of 256 KiB cut that tenfold.
    let mut batch = bytes::BytesMut::with_capacity(BATCH);
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                batch.extend_from_slice(&bytes);
                if batch.len() >= BATCH {
                    let full = std::mem::replace(&mut batch, bytes::BytesMut::with_capacity(BATCH));
                    if sender.send(full.freeze()).await.is_err() {
                        break;
                    }
                }
            }
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        }
    }
    if failure.is_none() && !batch.is_empty() {
        let _ = sender.send(batch.freeze()).await;
    }
    drop(sender);
    let result = reader.await.map_err(|e| e.to_string())?;
    if let Some(f) = failure {
        return Err(f);
    }
    result.map_err(|e| format!("reading the archive: {e}"))
}

/// The blocking reader handed to tar parsing.
pub struct ChannelReaderHandle(ChannelReader);

impl std::io::Read for ChannelReaderHandle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

/// Reads the archive stream of the container path `root` (entries named after `root`'s last
/// component, as the engine's archive API sends them) into a manifest, skipping ignored paths
/// and normalising the container's `identity` in file content.
pub async fn read_stream<S, E>(
    stream: S,
    root: &str,
    ignore: std::sync::Arc<Ignore>,
    identity: std::sync::Arc<Identity>,
) -> Result<Manifest, String>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display,
{
    let root = root.to_string();
    stream_into(stream, move |reader| {
        let mut m = Manifest::default();
        manifest::read_tar_of(reader, &root, &ignore, &identity, &mut m)?;
        Ok(m)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_a_chunked_stream_like_a_whole_tar() {
        let tar = manifest::tests::tar_of(
            &[("srv", None, 0o755), ("srv/a.txt", Some("hello\n"), 0o644)],
            &[],
        );
        let chunks: Vec<Result<Bytes, std::io::Error>> = tar
            .chunks(7)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let m = read_stream(
            futures_util::stream::iter(chunks),
            "/srv",
            std::sync::Arc::new(Ignore::none()),
            std::sync::Arc::new(Identity::none()),
        )
        .await
        .unwrap();
        assert_eq!(m.entries.len(), 2);
        assert_eq!(m.entries["/srv/a.txt"].text.as_deref(), Some("hello\n"));
    }

    #[tokio::test]
    async fn a_stream_error_is_reported() {
        let chunks: Vec<Result<Bytes, String>> = vec![Err("the engine went away".into())];
        let err = read_stream(
            futures_util::stream::iter(chunks),
            "/srv",
            std::sync::Arc::new(Ignore::none()),
            std::sync::Arc::new(Identity::none()),
        )
        .await
        .unwrap_err();
        assert_eq!(err, "the engine went away");
    }
}
