import Logging

/// What a restore did.
public struct RestoreReport: Sendable, Codable {
    public var artifact: String
    public var destination: String
    public var entries: Int
    public var bytes: Int64

    public init(artifact: String, destination: String, entries: Int, bytes: Int64) {
        self.artifact = artifact
        self.destination = destination
        self.entries = entries
        self.bytes = bytes
    }

    enum CodingKeys: String, CodingKey {
        case destination, entries, bytes
        case artifact = "name"
    }
}
