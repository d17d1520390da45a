import Foundation

/// A key a sink holds.
public struct StoredObject: Sendable, Hashable, Codable {
    public var key: String
    public var size: Int64
    public var modified: Date?

    public init(key: String, size: Int64, modified: Date? = nil) {
        self.key = key
        self.size = size
        self.modified = modified
    }
}
