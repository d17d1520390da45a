import Logging

/// Where a restore puts the data back.
public struct RestoreDestination: Sendable, Hashable, CustomStringConvertible {
    /// A kind of destination. Modules add their own, such as a database or a bucket.
    public struct Kind: RawRepresentable, Sendable, Hashable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// A directory on this host (`--to DIR`).
        public static let directory = Kind(rawValue: "directory")
        /// A database on the source's server (`--to-database NAME`).
        public static let database = Kind(rawValue: "database")
    }

    public var kind: Kind
    public var value: String

    public init(kind: Kind, value: String) {
        self.kind = kind
        self.value = value
    }

    public static func directory(_ path: String) -> RestoreDestination {
        RestoreDestination(kind: .directory, value: path)
    }

    public var description: String { "\(kind.rawValue) \(value)" }
}
