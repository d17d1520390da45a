import Foundation

/// One artifact of a set.
public struct ManifestArtifact: Sendable, Codable, Hashable {
    public var name: String
    public var source: String
    public var sourceType: String
    public var subject: String
    /// The archive format's name, such as `tar.gz` or `gz`.
    public var format: String
    public var layout: ArchiveLayout
    public var size: Int64
    public var sha256: String
    /// Bytes before compression.
    public var contentBytes: Int64
    /// Entries in a tree archive; 0 for a stream.
    public var entries: Int
    public var durationSeconds: Double
    public var verification: VerificationRecord
    public var warnings: [String]
    /// Facts the source recorded, such as per-table row counts.
    public var details: [String: JSONValue]
    /// The latest restore drill of this artifact, when one ran.
    public var restoreTest: RestoreTestRecord?

    public init(
        name: String, source: String, sourceType: String, subject: String, format: String, layout: ArchiveLayout,
        size: Int64, sha256: String, contentBytes: Int64, entries: Int, durationSeconds: Double,
        verification: VerificationRecord, warnings: [String] = [], details: [String: JSONValue] = [:], restoreTest: RestoreTestRecord? = nil
    ) {
        self.name = name
        self.source = source
        self.sourceType = sourceType
        self.subject = subject
        self.format = format
        self.layout = layout
        self.size = size
        self.sha256 = sha256
        self.contentBytes = contentBytes
        self.entries = entries
        self.durationSeconds = durationSeconds
        self.verification = verification
        self.warnings = warnings
        self.details = details
        self.restoreTest = restoreTest
    }

    enum CodingKeys: String, CodingKey {
        case name, source, subject, format, layout, size, sha256, entries, verification, warnings, details
        case restoreTest = "restore_test"
        case sourceType = "source_type"
        case contentBytes = "content_bytes"
        case durationSeconds = "duration_seconds"
    }

    public var digest: FileDigest { FileDigest(size: size, sha256: sha256) }
}
