import Logging

/// What a source writes: a tree of entries, or one stream whose own suffix (such as "sql") goes before
/// the compression suffix in the artifact name.
public enum SourceContent: Sendable, Hashable {
    case tree
    case stream(fileExtension: String)

    public var layout: ArchiveLayout {
        switch self {
        case .tree: .tree
        case .stream: .stream
        }
    }
}
