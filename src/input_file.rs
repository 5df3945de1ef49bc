//! Bounded reads of the files a user points the tool at (experiment configs and their
//! `extends`, prompt files): each must be a regular file no larger than [`MAX_INPUT_BYTES`].
//! A device (`/dev/zero`), a FIFO or a folder is refused at once, before anything is read, and
//! a file that grows while being read stops at the cap instead of filling the memory.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

/// Largest input file accepted: 1 GiB.
pub const MAX_INPUT_BYTES: u64 = 1 << 30;
/// [`MAX_INPUT_BYTES`] as people read it, for error messages.
pub const MAX_INPUT_TEXT: &str = "1 GiB";

fn too_large(size: Option<u64>) -> io::Error {
    let size = size.map(|s| format!(" ({s} bytes)")).unwrap_or_default();
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the file is larger than the {MAX_INPUT_TEXT} limit for input files{size}"),
    )
}

/// Opens `path` for reading after checking it is a regular file under the cap. The reader
/// returns an error (never more data) once more than [`MAX_INPUT_BYTES`] were read.
pub fn open(path: &Path) -> io::Result<impl io::BufRead> {
    // Stat before opening: opening a FIFO would block until someone writes to it.
    check(&std::fs::metadata(path)?)?;
    let file = File::open(path)?;
    check(&file.metadata()?)?;
    Ok(BufReader::new(Capped {
        inner: file.take(MAX_INPUT_BYTES + 1),
        read: 0,
    }))
}

/// The whole file as UTF-8 text, bounded like [`open`].
pub fn read_to_string(path: &Path) -> io::Result<String> {
    let mut text = String::new();
    open(path)?.read_to_string(&mut text)?;
    Ok(text)
}

fn check(meta: &std::fs::Metadata) -> io::Result<()> {
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a folder"
        } else {
            "a device, FIFO or socket"
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({what})"),
        ));
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(too_large(Some(meta.len())));
    }
    Ok(())
}

/// Counts bytes and fails past the cap (the `take` above makes one byte too many visible).
struct Capped<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > MAX_INPUT_BYTES {
            return Err(too_large(None));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        std::fs::write(&p, "hello\n").unwrap();
        assert_eq!(read_to_string(&p).unwrap(), "hello\n");
    }

    #[test]
    fn refuses_folders_and_devices_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_to_string(dir.path()).unwrap_err();
        assert!(
            e.to_string().contains("not a regular file (a folder)"),
            "{e}"
        );
        #[cfg(unix)]
        {
            let e = read_to_string(Path::new("/dev/zero")).unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{e}");
        }
    }

    #[test]
    fn refuses_files_over_the_cap_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.jsonl");
        // Sparse: no disk space used.
        File::create(&p)
            .unwrap()
            .set_len(MAX_INPUT_BYTES + 1)
            .unwrap();
        let e = read_to_string(&p).unwrap_err();
        assert!(e.to_string().contains("1 GiB"), "{e}");
    }
}
