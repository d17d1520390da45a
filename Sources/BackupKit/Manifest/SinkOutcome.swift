import Foundation

/// What happened to a set in one sink.
public struct SinkOutcome: Sendable, Codable, Hashable {
    public enum Status: String, Sendable, Codable { case stored, failed, skipped }

    public var sink: String
    public var status: Status
    public var error: String?
    /// The failure's stable code, such as `disk_space` for a full sink volume.
    public var errorCode: BackupError.Code?
    /// What the sink confirmed about the stored artifacts (the checks every artifact passed).
    public var checks: [String]?
    /// How long storing the artifacts took.
    public var durationSeconds: Double?

    public init(sink: String, status: Status, error: String? = nil, errorCode: BackupError.Code? = nil, checks: [String]? = nil,
                durationSeconds: Double? = nil) {
        self.sink = sink
        self.status = status
        self.error = error
        self.errorCode = errorCode
        self.checks = checks
        self.durationSeconds = durationSeconds
    }

    enum CodingKeys: String, CodingKey {
        case sink, status, error, checks
        case errorCode = "error_code"
        case durationSeconds = "duration_seconds"
    }
}
