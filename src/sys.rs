//! Process limits: a benchmark at high concurrency needs a file descriptor per connection, and
//! the usual soft limit (1024) is below what the hard limit allows.

/// Raise the soft `RLIMIT_NOFILE` to the hard limit. Returns the soft limit now in force
/// (`None` where it cannot be read).
#[cfg(unix)]
pub fn raise_nofile_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        } else {
            tracing::debug!("could not raise the open-file limit above {}", lim.rlim_cur);
        }
    }
    Some(lim.rlim_cur)
}

#[cfg(not(unix))]
pub fn raise_nofile_limit() -> Option<u64> {
    None
}

/// The soft open-file limit in force.
#[cfg(unix)]
pub fn nofile_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: as above.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0).then_some(lim.rlim_cur)
}

#[cfg(not(unix))]
pub fn nofile_limit() -> Option<u64> {
    None
}

/// Whether `e` (or an error in its source chain) is "too many open files".
pub fn is_out_of_fds(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            #[cfg(unix)]
            if matches!(io.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) {
                return true;
            }
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_never_lowers_the_limit() {
        let before = nofile_limit();
        let after = raise_nofile_limit();
        assert!(after >= before, "{after:?} < {before:?}");
        assert_eq!(nofile_limit(), after);
    }

    #[test]
    fn emfile_is_recognised_through_a_chain() {
        #[derive(Debug)]
        struct Wrap(std::io::Error);
        impl std::fmt::Display for Wrap {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("wrapped")
            }
        }
        impl std::error::Error for Wrap {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Wrap(std::io::Error::from_raw_os_error(libc::EMFILE));
        assert!(is_out_of_fds(&e));
        let e = Wrap(std::io::Error::from_raw_os_error(libc::ECONNREFUSED));
        assert!(!is_out_of_fds(&e));
    }
}
