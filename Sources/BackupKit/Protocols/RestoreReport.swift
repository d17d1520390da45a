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

    /// Records the check of a restored tree: its entry count against the manifest's.
    public mutating func check(entriesRecorded recorded: Int) {
        checkPassed = entries == recorded
        check = entries == recorded ? "\(entries) entries, as the manifest records" : "\(entries) entries restored; the manifest records \(recorded)"
    }

    /// Records the check of a restored database: every table's row count (`found`) against the
    /// manifest's (`recorded`), and the same tables.
    public mutating func check(rowCounts found: [String: Int64], recorded: [String: Int64]) {
        let differing = Set(found.keys).union(recorded.keys).filter { found[$0] != recorded[$0] }.sorted()
        checkPassed = differing.isEmpty
        check = differing.isEmpty ? "row counts match the manifest: \(found.count) tables, \(found.values.reduce(0, +)) rows"
            : "row counts differ from the manifest in \(differing.prefix(5).joined(separator: ", "))\(differing.count > 5 ? ", …" : "")"
    }

    enum CodingKeys: String, CodingKey {
        case destination, entries, bytes, check
        case artifact = "name"
        case checkPassed = "check_passed"
    }
}
