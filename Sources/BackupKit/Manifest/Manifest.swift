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
    /// The plan's Ed25519 signature over everything else here (``signed(with:)``); nil in sets
    /// written before BackupKit signed them.
    public var signature: ManifestSignature?

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
        case format, plan, timestamp, tag, host, artifacts, sinks, warnings, sources, signature
        case toolVersion = "tool_version"
        case startedAt = "started_at"
        case completedAt = "completed_at"
    }

    /// Whether every artifact passed verification.
    public var isVerified: Bool { !artifacts.isEmpty && artifacts.allSatisfy { $0.verification.status == .passed } }

    public var key: String { ArtifactName.manifest(plan: plan, timestamp: timestamp) }

    public func encoded() throws -> [UInt8] {
        Array(try Self.jsonEncoder().encode(self)) + [UInt8(ascii: "\n")]
    }

    /// How manifests (and sealed manifests) are written: sorted keys, so a signature covers one
    /// encoding; ISO 8601 dates.
    static func jsonEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    static func jsonDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    /// Writes the manifest into `directory` (mode 0600, fsync, rename) for a sink to store.
    public func staged(in directory: String) throws -> StagedFile {
        try StagedFile(writing: encoded(), to: directory + "/" + key)
    }

    public static func decode(_ bytes: [UInt8], key: String) throws -> Manifest {
        do {
            return try jsonDecoder().decode(Manifest.self, from: Data(bytes))
        } catch {
            throw BackupError(.archive, "manifest \(key) cannot be read: \(error). The set is treated as incomplete.")
        }
    }
}
