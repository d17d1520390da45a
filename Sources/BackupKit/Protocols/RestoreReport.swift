import Logging

/// What a restore did.
public struct RestoreReport: Sendable, Codable {
    public var artifact: String
    public var destination: String
    public var entries: Int
    public var bytes: Int64
    /// What was checked after the restore against the manifest (`row counts match the manifest: 3
    /// tables, 80500 rows`, `126 entries, as the manifest records`), and whether it held.
    public var check: String?
    public var checkPassed: Bool?

    public init(artifact: String, destination: String, entries: Int, bytes: Int64) {
        self.artifact = artifact
        self.destination = destination
        self.entries = entries
        self.bytes = bytes
    }

    enum CodingKeys: String, CodingKey {
        case destination, entries, bytes, check
        case artifact = "name"
        case checkPassed = "check_passed"
    }
}
