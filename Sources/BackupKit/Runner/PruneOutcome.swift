import Foundation

/// What retention did in one sink.
public struct PruneOutcome: Sendable, Codable, Hashable {
    public var sink: String
    public var deleted: [SetTimestamp]
    public var error: String?

    public init(sink: String, deleted: [SetTimestamp], error: String? = nil) {
        self.sink = sink
        self.deleted = deleted
        self.error = error
    }
}
