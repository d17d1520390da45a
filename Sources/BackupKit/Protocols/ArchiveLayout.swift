/// What an archive holds.
public enum ArchiveLayout: String, Sendable, Codable {
    /// Files, directories and links (tar).
    case tree
    /// One stream of bytes, such as an SQL dump.
    case stream
}
