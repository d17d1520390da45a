import Foundation

/// A finished file in the staging area: what a sink's ``Sink/put(_:from:)`` reads.
public struct StagedFile: Sendable, Hashable {
    public var path: String
    public var digest: FileDigest

    public init(path: String, digest: FileDigest) {
        self.path = path
        self.digest = digest
    }

    /// Writes `bytes` as the file at `path` (mode 0600, fsync, rename) and stages it.
    public init(writing bytes: [UInt8], to path: String) throws {
        self.init(path: path, digest: try AtomicFileWriter.write(bytes, to: path))
    }

    /// Opens the file for reading in chunks.
    public func open() throws -> FileReader { try FileReader(path: path) }
}
