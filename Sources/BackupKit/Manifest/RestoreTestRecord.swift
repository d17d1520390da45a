import Foundation

/// A restore drill's outcome, as the manifest keeps it.
public struct RestoreTestRecord: Sendable, Codable, Hashable {
    public var passed: Bool
    public var checkedAt: Date
    public var summary: String
    public var durationSeconds: Double

    public init(_ result: RestoreDrillResult, at date: Date = Date()) {
        passed = result.passed
        checkedAt = date
        summary = result.summary
        durationSeconds = result.durationSeconds
    }

    enum CodingKeys: String, CodingKey {
        case passed, summary
        case checkedAt = "checked_at"
        case durationSeconds = "duration_seconds"
    }
}
