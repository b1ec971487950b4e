//! Process limits: the open-file limit, and logging a repeated failure sparingly.

/// Descriptors kept beside the gateway's connections: the admin API's connections, the
/// listeners, the store, the runtime.
const MARGIN: u64 = crate::admin::MAX_CONNECTIONS as u64 + 64;

/// The descriptors `max_connections` client connections can hold: each can have an
/// upstream connection open too.
pub fn descriptors_needed(max_connections: usize) -> u64 {
    (max_connections as u64)
        .saturating_mul(2)
        .saturating_add(MARGIN)
}

/// Raises the soft open-file limit (`RLIMIT_NOFILE`) to the hard limit, and warns when it
/// cannot hold `max_connections` gateway connections. Returns the limit now in force.
pub fn raise_open_file_limit(max_connections: usize) -> Option<u64> {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            return None;
        }
    };
    let needed = descriptors_needed(max_connections);
    if limit < needed {
        tracing::warn!(
            limit,
            max_connections,
            needed,
            "the open-file limit is too low for max_connections: connections past it fail to \
             accept. Raise the hard limit (ulimit -Hn, systemd LimitNOFILE=) or lower \
             --max-connections"
        );
    } else {
        tracing::debug!(limit, "open-file limit");
    }
    Some(limit)
}

/// The core's throttle, for the admin listener's accept failures.
pub use portway::Throttle;

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_soft_limit_is_raised_to_the_hard_limit() {
        use rlimit::Resource;
        let (soft, hard) = rlimit::getrlimit(Resource::NOFILE).unwrap();
        rlimit::setrlimit(Resource::NOFILE, soft.min(hard).min(256), hard).unwrap();
        let raised = raise_open_file_limit(10).unwrap();
        let (now, _) = rlimit::getrlimit(Resource::NOFILE).unwrap();
        assert_eq!(raised, now);
        if cfg!(target_os = "linux") {
            assert_eq!(now, hard);
        }
        assert!(descriptors_needed(10_000) > 20_000);
    }
}
