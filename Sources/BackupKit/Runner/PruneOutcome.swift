import Foundation

/// What retention did in one sink.
public struct PruneOutcome: Sendable, Codable, Hashable {
    public var sink: String
    public var deleted: [SetTimestamp]
    public var error: String?
    /// Packs of incremental sets that no kept set names any more, deleted after the sets.
    public var deletedPacks: [String]

    public init(sink: String, deleted: [SetTimestamp], error: String? = nil, deletedPacks: [String] = []) {
        self.sink = sink
        self.deleted = deleted
        self.error = error
        self.deletedPacks = deletedPacks
    }

    enum CodingKeys: String, CodingKey {
        case sink, deleted, error
        case deletedPacks = "deleted_packs"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sink = try container.decode(String.self, forKey: .sink)
        deleted = try container.decode([SetTimestamp].self, forKey: .deleted)
        error = try container.decodeIfPresent(String.self, forKey: .error)
        deletedPacks = try container.decodeIfPresent([String].self, forKey: .deletedPacks) ?? []
    }
}
