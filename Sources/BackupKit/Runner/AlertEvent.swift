import Foundation

/// The kinds of alert, from the design document's list plus what operators asked for.
public enum AlertEvent: String, Sendable, Hashable, Codable, CaseIterable {
    /// A backup failed.
    case failure
    /// An artifact failed verification.
    case verificationFailure = "verification_failure"
    /// Credentials are needed and none were given.
    case missingCredentials = "missing_credentials"
    /// A volume is full or too small.
    case diskSpace = "disk_space"
    /// A sink failed while others stored the set.
    case degraded
    /// A run began (opt-in; the heartbeat's `/start` ping).
    case started
    /// A run succeeded (opt-in).
    case succeeded
    /// Retention deleted sets.
    case pruned
    /// No good set is newer than the configured age.
    case stale
    /// WAL waits in the spool longer than `max_wal_lag`, or the spool nears its limit.
    case walLag = "wal_lag"
    /// A segment is missing between a kept base backup and the newest archived WAL.
    case walGap = "wal_gap"
    /// A WAL file arrived under a name the archive holds with different content.
    case walConflict = "wal_conflict"
    /// Sent by `backupctl notify test`; every notifier takes it.
    case test

    /// What a notifier gets when the plan does not say.
    public static let defaultSelection: Set<AlertEvent> = [.failure, .verificationFailure, .missingCredentials, .diskSpace, .degraded, .stale, .walLag, .walGap, .walConflict]
}
