import Foundation

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
