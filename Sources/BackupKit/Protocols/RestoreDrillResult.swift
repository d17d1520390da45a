import Logging

/// What a restore drill found.
public struct RestoreDrillResult: Sendable, Codable, Hashable {
    public var passed: Bool
    /// One line for people: "12 tables, 3,000,112 rows match" or what differed.
    public var summary: String
    public var durationSeconds: Double
    /// Facts such as per-table counts that differed.
    public var details: [String: JSONValue]

    public init(passed: Bool, summary: String, durationSeconds: Double, details: [String: JSONValue] = [:]) {
        self.passed = passed
        self.summary = summary
        self.durationSeconds = durationSeconds
        self.details = details
    }

    enum CodingKeys: String, CodingKey {
        case passed, summary, details
        case durationSeconds = "duration_seconds"
    }
}
