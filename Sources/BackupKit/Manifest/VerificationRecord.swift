import Foundation

/// The result of verifying an artifact.
public struct VerificationRecord: Sendable, Codable, Hashable {
    public enum Status: String, Sendable, Codable { case passed, failed }

    public var status: Status
    public var checkedAt: Date
    /// What was checked: `size` (the plan's size rules), `integrity` (full decompression and every entry
    /// read) and `read-back` (every staged byte read back from disk, its size and CRC-32 equal to what was
    /// written and hashed for the manifest's SHA-256).
    public var checks: [String]
    public var message: String?

    public init(status: Status, checkedAt: Date, checks: [String], message: String? = nil) {
        self.status = status
        self.checkedAt = checkedAt
        self.checks = checks
        self.message = message
    }

    enum CodingKeys: String, CodingKey {
        case status, checks, message
        case checkedAt = "checked_at"
    }
}
