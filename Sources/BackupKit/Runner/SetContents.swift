import Crypto
import Foundation

/// One path a set holds, as `ls`, `find` and `diff` show it.
public struct ContentEntry: Sendable, Hashable, Encodable {
    public enum Kind: String, Sendable, Hashable, Encodable {
        case file, directory, symlink, hardlink
    }

    public var source: String
    public var path: RawPath
    public var kind: Kind
    public var size: Int64
    public var mode: UInt32
    public var modified: FileTime
    /// The content's SHA-256 for files: from the index of an incremental set, computed while reading
    /// a full set's archive.
    public var sha256: String?
    public var linkTarget: RawPath?

    enum CodingKeys: String, CodingKey {
        case source, path, kind, size, mode, modified, sha256
        case linkTarget = "link_target"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(source, forKey: .source)
        try container.encode(path.description, forKey: .path)
        try container.encode(kind, forKey: .kind)
        try container.encode(size, forKey: .size)
        try container.encode(String(mode, radix: 8), forKey: .mode)
        try container.encode(Date(timeIntervalSince1970: Double(modified.seconds) + Double(modified.nanoseconds) / 1e9), forKey: .modified)
        try container.encodeIfPresent(sha256, forKey: .sha256)
        try container.encodeIfPresent(linkTarget?.description, forKey: .linkTarget)
    }

    /// Whether `other` (the same path in another set) differs: another kind, content, size, mode or link.
    public func differs(from other: ContentEntry) -> Bool {
        kind != other.kind || size != other.size || mode != other.mode || linkTarget != other.linkTarget
            || (sha256 != nil && other.sha256 != nil && sha256 != other.sha256)
            || ((sha256 == nil || other.sha256 == nil) && modified != other.modified)
    }
}

/// Reads what a set holds of one directory-like source, in tree order: an incremental set's index
/// (nothing else is read), or a full set's tar (decompressed and read through, each file hashed).
/// One thread reads it at a time (it may be handed to another between reads, hence `@unchecked`).
public final class ContentReader: @unchecked Sendable {
    private let nextEntry: () throws -> ContentEntry?

    private init(_ next: @escaping () throws -> ContentEntry?) { nextEntry = next }

    public func next() throws -> ContentEntry? { try nextEntry() }

    /// A reader of nothing: a source one of two compared sets does not hold.
    public static var empty: ContentReader { ContentReader { nil } }

    /// A reader of `artifact`, whose file is at `path` and already checked.
    public static func open(_ artifact: ManifestArtifact, path: String, formats: ArchiveFormatTable) throws -> ContentReader {
        guard let format = formats.format(named: artifact.format) else {
            throw BackupError(.restoreFailed, "\(artifact.name) has the unknown format '\(artifact.format)'")
        }
        let source = artifact.source
        if artifact.isIncrementalIndex {
            let index = try IncrementalWriter.openIndex(.init(path: path, name: artifact.name, format: format))
            return ContentReader {
                guard let record = try index.next() else { return nil }
                let kind: ContentEntry.Kind = switch record.kind {
                case .file: .file
                case .directory: .directory
                case .symlink: .symlink
                case .hardlink: .hardlink
                }
                return ContentEntry(source: source, path: record.path, kind: kind, size: record.size, mode: record.mode,
                                    modified: record.modified, sha256: record.hash, linkTarget: record.linkTarget)
            }
        }
        guard artifact.layout == .tree else {
            throw BackupError(.usage, "\(artifact.name) is a single stream (a dump), not a tree of files; ls, find and diff read directory-like sources")
        }
        let reader = try format.makeReader(file: FileReader(path: path))
        return ContentReader {
            while let entry = try reader.nextEntry() {
                let kind: ContentEntry.Kind
                switch entry.kind {
                case .file: kind = .file
                case .directory: kind = .directory
                case .symlink: kind = .symlink
                case .hardlink: kind = .hardlink
                case .special: continue
                }
                var hash: String?
                if kind == .file {
                    var hasher = SHA256()
                    try reader.forEachChunk(bufferSize: 1 << 18) { hasher.update(bufferPointer: $0) }
                    hash = hasher.finalize().hexString
                }
                // tar writes a directory's name with a trailing `/`; the index and the tree order do not.
                var path = entry.path
                while path.bytes.count > 1, path.bytes.last == 47 { path.bytes.removeLast() }
                return ContentEntry(source: source, path: path, kind: kind, size: entry.size, mode: entry.permissions,
                                    modified: entry.modificationTime, sha256: hash, linkTarget: entry.linkTarget)
            }
            return nil
        }
    }
}

/// What `diff` reports for one path.
public struct ContentChange: Sendable, Hashable, Encodable {
    public enum Kind: String, Sendable, Hashable, Encodable {
        case added, removed, changed
    }

    public var change: Kind
    public var source: String
    public var path: String
}

public enum SetComparison {
    /// Merges two readers of the same source in tree order: paths only in `new` are added, only in
    /// `old` removed, in both but different (``ContentEntry/differs(from:)``) changed.
    public static func changes(from old: ContentReader, to new: ContentReader, isCancelled: () -> Bool = { false },
                               _ visit: (ContentChange) throws -> Void) throws {
        var left = try old.next(), right = try new.next()
        while left != nil || right != nil {
            if isCancelled() { throw CancellationError() }
            let order = switch (left, right) {
            case (let a?, let b?): TreeOrder.compare(a.path, b.path)
            case (nil, _): 1
            case (_, nil): -1
            }
            if order < 0 {
                try visit(ContentChange(change: .removed, source: left!.source, path: left!.path.description))
                left = try old.next()
            } else if order > 0 {
                try visit(ContentChange(change: .added, source: right!.source, path: right!.path.description))
                right = try new.next()
            } else {
                if right!.differs(from: left!) {
                    try visit(ContentChange(change: .changed, source: right!.source, path: right!.path.description))
                }
                left = try old.next()
                right = try new.next()
            }
        }
    }
}

extension BackupPlan {
    /// The file of `artifact` from `sink` on this host, checked against the manifest's size and SHA-256:
    /// in place for a local sink, else downloaded into `staging`.
    public func checkedLocalFile(_ artifact: ManifestArtifact, in sink: any Sink, sealed: SealedManifest?, staging: String) async throws -> String {
        let path = try await ArtifactAccess.localFile(artifact, in: sink, staging: staging, sealed: try sealed?.copy(of: artifact),
                                                      identities: identities).path
        let digest = try await runBlocking { try FileDigest.of(path: path) }
        guard digest == artifact.digest else {
            throw BackupError(.verificationFailed, "\(artifact.name) in sink '\(sink.name)' is \(digest.size) bytes with SHA-256 \(digest.sha256), not what its manifest records; `backupctl verify` checks every set")
        }
        return path
    }
}
