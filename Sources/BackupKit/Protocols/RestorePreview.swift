/// What a restore would do, from ``Restorer/preview(_:)``: the set, each artifact and its target, the
/// target's state, and the hooks that would run. Nothing is read or written to make it.
public struct RestorePreview: Sendable, Codable {
    public struct Item: Sendable, Codable {
        public var name: String
        public var source: String
        public var subject: String
        /// The stored artifact's size.
        public var size: Int64
        /// What it holds uncompressed: what the target needs room for.
        public var contentBytes: Int64
        public var target: String
        /// `directory`, `database` or `bucket`.
        public var targetKind: String
        /// `missing: it will be created`, `empty`, `not empty (3 entries): ...`, and so on.
        public var targetState: String

        enum CodingKeys: String, CodingKey {
            case name, source, subject, size, target
            case contentBytes = "content_bytes"
            case targetKind = "target_kind"
            case targetState = "target_state"
        }
    }

    public var timestamp: SetTimestamp
    public var sink: String
    public var artifacts: [Item]
    public var beforeRestore: [String]
    public var afterRestore: [String]

    enum CodingKeys: String, CodingKey {
        case timestamp, sink, artifacts
        case beforeRestore = "before_restore"
        case afterRestore = "after_restore"
    }
}
