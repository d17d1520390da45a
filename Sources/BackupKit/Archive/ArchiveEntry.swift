/// One entry of an archive: a file, directory or link, with the metadata a restore brings back.
public struct ArchiveEntry: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case file
        case directory
        case symlink
        /// Another name for a file stored earlier in the same archive (``ArchiveEntry/linkTarget``).
        case hardlink
        /// A device, FIFO or socket: read back so it can be refused, never written by our sources.
        case special
    }

    /// The path inside the archive: relative, `/`-separated, as bytes (UTF-8 for nearly every name; see
    /// ``RawPath``).
    public var path: RawPath
    public var kind: Kind
    /// The content length; 0 for everything but files.
    public var size: Int64
    /// Permission bits, such as 0o644.
    public var permissions: UInt32
    public var userID: UInt32
    public var groupID: UInt32
    public var modificationTime: FileTime
    /// A symlink's target as written, or a hardlink's archive path.
    public var linkTarget: RawPath?
    /// Extra metadata kept with the entry as pax extended attributes, such as an object's content type.
    public var attributes: [String: String]

    public init(
        path: RawPath, kind: Kind, size: Int64 = 0, permissions: UInt32 = 0o644, userID: UInt32 = 0, groupID: UInt32 = 0,
        modificationTime: FileTime = FileTime(seconds: 0), linkTarget: RawPath? = nil, attributes: [String: String] = [:]
    ) {
        self.path = path
        self.kind = kind
        self.size = size
        self.permissions = permissions
        self.userID = userID
        self.groupID = groupID
        self.modificationTime = modificationTime
        self.linkTarget = linkTarget
        self.attributes = attributes
    }

    /// Whether the path and the link target, if any, are UTF-8. An entry with a name that is not is
    /// written with all its names as bytes (pax `hdrcharset=BINARY`).
    public var namesAreUTF8: Bool {
        path.string != nil && (linkTarget.map { $0.string != nil } ?? true)
    }
}

/// A point in time with nanoseconds, as file systems and pax headers keep it.
public struct FileTime: Sendable, Hashable, Comparable, Codable {
    public var seconds: Int64
    public var nanoseconds: Int32

    public init(seconds: Int64, nanoseconds: Int32 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    public static func < (lhs: FileTime, rhs: FileTime) -> Bool {
        (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
    }
}
