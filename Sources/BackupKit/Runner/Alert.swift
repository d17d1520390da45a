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
    /// A run succeeded (opt-in).
    case succeeded
    /// Retention deleted sets.
    case pruned
    /// No good set is newer than the configured age.
    case stale
    /// Sent by `backupctl notify test`; every notifier takes it.
    case test

    /// What a notifier gets when the plan does not say.
    public static let defaultSelection: Set<AlertEvent> = [.failure, .verificationFailure, .missingCredentials, .diskSpace, .degraded, .stale]
}

/// One alert: what happened to which plan on which host, with the numbers and the (redacted) error.
public struct Alert: Sendable, Codable, Hashable {
    public var event: AlertEvent
    public var plan: String
    public var host: String
    /// The set's timestamp (`20241130_020000`), when the run got that far.
    public var set: String?
    public var time: Date
    /// One line a person can read in a notification list.
    public var summary: String
    public var error: ReportedError?
    public var artifacts: [AlertArtifact]
    public var sinks: [SinkOutcome]

    public init(
        event: AlertEvent, plan: String, host: String, set: String? = nil, time: Date = Date(), summary: String,
        error: ReportedError? = nil, artifacts: [AlertArtifact] = [], sinks: [SinkOutcome] = []
    ) {
        self.event = event
        self.plan = plan
        self.host = host
        self.set = set
        self.time = time
        self.summary = summary
        self.error = error
        self.artifacts = artifacts
        self.sinks = sinks
    }
}

public struct AlertArtifact: Sendable, Codable, Hashable {
    public var name: String
    public var source: String
    public var size: Int64
    public var durationSeconds: Double

    public init(name: String, source: String, size: Int64, durationSeconds: Double) {
        self.name = name
        self.source = source
        self.size = size
        self.durationSeconds = durationSeconds
    }
}
