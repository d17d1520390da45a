import Foundation

/// The record of one backup set, written last to every sink that stored the set. A set without a
/// manifest is incomplete and never counts as a good backup.
public struct Manifest: Sendable, Codable, Hashable {
    public static let currentFormat = 1

    public var format: Int
    public var plan: String
    public var timestamp: SetTimestamp
    /// A label such as `pre-deploy` from `backupctl run --tag`.
    public var tag: String?
    public var host: String
    public var toolVersion: String
    public var startedAt: Date
    public var completedAt: Date
    public var artifacts: [ManifestArtifact]
    /// Every sink's outcome for this set's artifacts.
    public var sinks: [SinkOutcome]
    public var warnings: [String]
    /// The sources a partial run (`run --only`) backed up; nil when the run covered the whole plan.
    public var sources: [String]?

    public init(
        plan: String, timestamp: SetTimestamp, tag: String? = nil, host: String, toolVersion: String = BackupKitVersion.current,
        startedAt: Date, completedAt: Date, artifacts: [ManifestArtifact], sinks: [SinkOutcome] = [], warnings: [String] = [],
        sources: [String]? = nil
    ) {
        format = Self.currentFormat
        self.plan = plan
        self.timestamp = timestamp
        self.tag = tag
        self.host = host
        self.toolVersion = toolVersion
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.artifacts = artifacts
        self.sinks = sinks
        self.warnings = warnings
        self.sources = sources
    }

    /// Whether the set covers only some of the plan's sources.
    public var isPartial: Bool { sources != nil }

    enum CodingKeys: String, CodingKey {
        case format, plan, timestamp, tag, host, artifacts, sinks, warnings, sources
        case toolVersion = "tool_version"
        case startedAt = "started_at"
        case completedAt = "completed_at"
    }

    /// Whether every artifact passed verification.
    public var isVerified: Bool { !artifacts.isEmpty && artifacts.allSatisfy { $0.verification.status == .passed } }

    public var key: String { ArtifactName.manifest(plan: plan, timestamp: timestamp) }

    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return Array(try encoder.encode(self)) + [UInt8(ascii: "\n")]
    }

    /// Writes the manifest into `directory` (mode 0600, fsync, rename) for a sink to store.
    public func staged(in directory: String) throws -> StagedFile {
        try StagedFile(writing: encoded(), to: directory + "/" + key)
    }

    public static func decode(_ bytes: [UInt8], key: String) throws -> Manifest {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(Manifest.self, from: Data(bytes))
        } catch {
            throw BackupError(.archive, "manifest \(key) cannot be read: \(error). The set is treated as incomplete.")
        }
    }
}

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

/// The result of verifying an artifact.
public struct VerificationRecord: Sendable, Codable, Hashable {
    public enum Status: String, Sendable, Codable { case passed, failed }

    public var status: Status
    public var checkedAt: Date
    /// What was checked: `size`, `integrity`, `sha256`.
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

/// What happened to a set in one sink.
public struct SinkOutcome: Sendable, Codable, Hashable {
    public enum Status: String, Sendable, Codable { case stored, failed, skipped }

    public var sink: String
    public var status: Status
    public var error: String?
    /// What the sink confirmed about the stored artifacts (the checks every artifact passed).
    public var checks: [String]?
    /// How long storing the artifacts took.
    public var durationSeconds: Double?

    public init(sink: String, status: Status, error: String? = nil, checks: [String]? = nil, durationSeconds: Double? = nil) {
        self.sink = sink
        self.status = status
        self.error = error
        self.checks = checks
        self.durationSeconds = durationSeconds
    }

    enum CodingKeys: String, CodingKey {
        case sink, status, error, checks
        case durationSeconds = "duration_seconds"
    }
}

/// The version of BackupKit, recorded in manifests and printed by `backupctl --version`.
public enum BackupKitVersion {
    public static let current = "0.1.0"
}
